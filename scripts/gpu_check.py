"""The GPU check of issue 11: the demo backbones trained in bf16 under each accelerate config that fits one GPU,
each final checkpoint reloaded and scored. Driven by `scripts/gpu_check.sh`; the stages:

    python scripts/gpu_check.py prepare --out DIR [--tiny]        # SynthFAS + the initial checkpoint
    accelerate launch --config_file CFG scripts/gpu_check.py train --out DIR --name NAME [--cpu] [--max_steps N]
    python scripts/gpu_check.py score --out DIR --name NAME [--cpu] # reload, weight diff vs 'single', P(live) AUC
    python scripts/gpu_check.py table --out DIR                     # the Markdown table

`--tiny` (with `--cpu`) runs the same logic on a tiny random I-FAS on the CPU: the dry run of the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

TRAIN_ARGS = ["--per_device_train_batch_size", "4", "--learning_rate", "1e-4", "--use_peft", "--lora_r", "8",
              "--lora_alpha", "16", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
              "--seed", "0", "--disable_tqdm", "true", "--judgment_weight", "0.7"]


def prepare(out: Path, tiny: bool) -> None:
    """SynthFAS (leave synth_d out) saved as train/dev and test, and the untrained I-FAS checkpoint."""
    from datasets import DatasetDict

    from datasets_scripts.synthfas import build_synthfas, leave_one_domain_out
    from ifas_build import from_backbones, save_checkpoint, tiny_ifas

    size = 64 if tiny else 224
    data = build_synthfas(per_domain=24 if tiny else 120, size=size, seed=0)
    train, dev, test = leave_one_domain_out(data, "synth_d")
    DatasetDict({"train": train, "dev": dev}).save_to_disk(str(out / "protocol"))
    DatasetDict({"test": test}).save_to_disk(str(out / "test"))
    torch.manual_seed(0)
    if tiny:
        model, processor = tiny_ifas("dinov2", gac_num_queries=8, gac_mode="replace")
    else:
        from demo_assets import dinov2_small_path, smollm2_path

        model, processor = from_backbones(dinov2_small_path(), smollm2_path(), image_size=224, gac_num_queries=8,
                                          gac_mode="replace")
    save_checkpoint(model, processor, str(out / "init"))


class Timer:
    """Steps/s over the steps after the first (warm-up) one, read from the Trainer's callbacks."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Timer(TrainerCallback):
            start = end = None
            steps = 0

            def on_step_end(self, args, state, control, **kwargs):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                now = time.perf_counter()
                if self.start is None:
                    self.start = now
                else:
                    self.end, self.steps = now, self.steps + 1

        return _Timer()


def train(out: Path, name: str, cpu: bool, max_steps: int) -> None:
    """One training run under the launching accelerate config; the final folder through `save_final`."""
    from trl import ModelConfig, TrlParser

    from train_sft import IFASScriptArguments, IFASSFTConfig, build_trainer, save_final

    argv = ["--model_name_or_path", str(out / "init"), "--dataset_path", str(out / "protocol"),
            "--output_dir", str(out / name), "--max_steps", str(max_steps), *TRAIN_ARGS,
            *(["--use_cpu", "--bf16", "false"] if cpu else ["--bf16", "true"])]
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    trainer = build_trainer(script_args, training_args, model_args)
    timer = Timer()
    trainer.add_callback(timer)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    save_final(trainer, script_args)
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        steps_per_s = timer.steps / (timer.end - timer.start) if timer.steps else float("nan")
        metrics = {"config": name, "steps": trainer.state.global_step, "steps_per_s": steps_per_s,
                   "peak_gpu_gib": peak, "loss_first": losses[0], "loss_last": losses[-1]}
        (out / name / "gpu_check.json").write_text(json.dumps(metrics))


def score(out: Path, name: str, cpu: bool) -> None:
    """Reload the final folder, compare its weights with the unsharded ('single') run, score the test split."""
    from datasets import load_from_disk
    from safetensors.torch import load_file

    from evaluate_fas import score_dataset, scored
    from fas_metrics import roc_auc
    from modeling_ifas import IFASForConditionalGeneration
    from processing_ifas import IFASProcessor

    folder = out / name
    metrics = json.loads((folder / "gpu_check.json").read_text())
    saved, single = load_file(folder / "model.safetensors"), load_file(out / "single" / "model.safetensors")
    start = load_file(out / "init" / "model.safetensors")
    if saved.keys() != start.keys() or any(saved[k].shape != start[k].shape for k in start):
        raise SystemExit(f"{folder}: the final checkpoint does not hold the full I-FAS tensors")
    metrics["max_diff_vs_single"] = max((saved[k].float() - single[k].float()).abs().max().item() for k in saved)
    metrics["dtype"] = str(next(iter(saved.values())).dtype).removeprefix("torch.")
    device = "cpu" if cpu or not torch.cuda.is_available() else "cuda"
    model = IFASForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).to(device).eval()
    processor = IFASProcessor.from_pretrained(folder, trust_remote_code=True)
    records = scored(score_dataset(model, processor, load_from_disk(str(out / "test"))["test"], batch_size=16))
    metrics["auc"] = roc_auc([r["score"] for r in records], [r["label"] for r in records])
    (folder / "gpu_check.json").write_text(json.dumps(metrics))


def table(out: Path) -> str:
    lines = ["| config | steps/s | peak GPU memory (GiB) | loss first | loss last | saved dtype | "
             "max weight diff vs single | P(live) AUC (synth_d test) |", "|---|---|---|---|---|---|---|---|"]
    for path in sorted(out.glob("*/gpu_check.json"), key=lambda p: p.stat().st_mtime):
        m = json.loads(path.read_text())
        lines.append(f"| {m['config']} | {m['steps_per_s']:.2f} | {m['peak_gpu_gib']:.2f} | {m['loss_first']:.3f} | "
                     f"{m['loss_last']:.3f} | {m.get('dtype', '-')} | {m.get('max_diff_vs_single', float('nan')):.2e} "
                     f"| {m.get('auc', float('nan')):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["prepare", "train", "score", "table"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="single")
    parser.add_argument("--tiny", action="store_true", help="tiny random model and data (the CPU dry run)")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--max_steps", type=int, default=40)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.stage == "prepare":
        prepare(args.out, args.tiny)
    elif args.stage == "train":
        train(args.out, args.name, args.cpu, args.max_steps)
    elif args.stage == "score":
        score(args.out, args.name, args.cpu)
    else:
        print(table(args.out))


if __name__ == "__main__":
    main()
