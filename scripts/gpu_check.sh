#!/usr/bin/env bash
# The offline GPU check (issues 11, 25), one command, within 8 minutes on one GPU, no network:
#   bash scripts/gpu_check.sh [OUT]          # on the GPU machine: single / ZeRO-2 / ZeRO-3 / FSDP, 2-process evaluations
#   bash scripts/gpu_check.sh --cpu [OUT]    # dry run of the same logic on the CPU: tiny model, 'single' + evaluation
# Installs only from the wheel folder made by `make gpu-wheels` (GPU_WHEELS, default gpu_wheels/; pip --no-index) into
# $PYTHON's environment when it is a virtual environment, else into OUT/venv made with --system-site-packages (the
# machine's torch, transformers, accelerate, ...). Trains a demo-size I-FAS with random weights (scripts/gpu_check.py),
# checks every final checkpoint, prints a Markdown table with PASS/FAIL per row; exits non-zero when a row fails.
set -euo pipefail
cd "$(dirname "$0")/.."
CPU=0
if [[ "${1:-}" == "--cpu" ]]; then CPU=1; shift; fi
OUT=${1:-outputs/gpu_check}
WHEELS=${GPU_WHEELS:-gpu_wheels}
MAX_STEPS=${MAX_STEPS:-40}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}

rm -rf "$OUT"; mkdir -p "$OUT"
if [[ ! -d $WHEELS ]]; then echo "error: no wheel folder $WHEELS (run 'make gpu-wheels' where there is network)" >&2; exit 1; fi
if ! $PY -c "import sys; sys.exit(sys.prefix == sys.base_prefix)"; then
  $PY -m venv --system-site-packages "$OUT/venv"; PY=$OUT/venv/bin/python
fi
$PY -m pip install -q --no-index --find-links "$WHEELS" -r scripts/gpu_requirements.txt deepspeed==0.19.8
if [[ $CPU == 0 ]]; then
  $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
fi

TINY=(); CPU_FLAG=(); LAUNCH=(--num_machines 1 --dynamo_backend no)
if [[ $CPU == 1 ]]; then TINY=(--tiny); CPU_FLAG=(--cpu); MAX_STEPS=${MAX_STEPS_CPU:-6}; LAUNCH+=(--cpu); fi
$PY scripts/gpu_check.py prepare --out "$OUT" "${TINY[@]}"

run() {  # name, accelerate config, extra launch flags
  local name=$1 config=$2; shift 2
  $PY -m accelerate.commands.launch --config_file "configs/accelerate/$config" --num_processes 1 "${LAUNCH[@]}" "$@" \
    scripts/gpu_check.py train --out "$OUT" --name "$name" --max_steps "$MAX_STEPS" "${CPU_FLAG[@]}"
  $PY scripts/gpu_check.py check --out "$OUT" --name "$name" "${CPU_FLAG[@]}"
}
run single single_process.yaml --mixed_precision "$([[ $CPU == 1 ]] && echo no || echo bf16)"
if [[ $CPU == 0 ]]; then
  run zero2 deepspeed_zero2.yaml
  run zero3 deepspeed_zero3.yaml
  run fsdp fsdp.yaml --fsdp_transformer_layer_cls_to_wrap Dinov2Layer,LlamaDecoderLayer,IFASGACBlock
fi
# The Trainer's evaluation, 1 and 2 processes; 2 processes cannot share one GPU under NCCL, so they run on the CPU (gloo)
# (`accelerate launch --cpu --num_processes 2` started one process in the dry run; torchrun starts two, gloo)
$PY scripts/gpu_check.py evaluate --out "$OUT" --name eval1 --cpu
$PY -m torch.distributed.run --nproc_per_node 2 scripts/gpu_check.py evaluate --out "$OUT" --name eval2 --cpu
# ifas evaluate (the 'single' checkpoint, test and dev splits): 1 process, then 2 processes sharing the GPU (gloo;
# --multi_gpu makes accelerate start two processes on one GPU or on the CPU); same metrics, each image scored once
EVAL=(-m ifas evaluate --model "$OUT/single" --dataset "$OUT/test" --dev_dataset "$OUT/protocol:dev" --batch_size 8)
$PY "${EVAL[@]}" --out "$OUT/fas1/report"
$PY -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \
  --dynamo_backend no "${EVAL[@]}" --out "$OUT/fas2/report"
$PY scripts/gpu_check.py compare_reports --out "$OUT" --name fas2
$PY scripts/gpu_check.py table --out "$OUT" | tee "$OUT/table.md"
