"""The offline GPU check (issues 11, 25): a demo-size I-FAS (DINOv2-S/14 + SmolLM2-135M shapes, tied head, GAC
replace, random weights: no download) trained in bf16 under each accelerate config that fits one GPU, each final
checkpoint checked, and the Trainer's evaluation under 2 processes compared with 1. Driven by `scripts/gpu_check.sh`:

    python scripts/gpu_check.py prepare --out DIR [--tiny]        # generated data + the initial checkpoint
    accelerate launch --config_file CFG scripts/gpu_check.py train --out DIR --name NAME [--cpu] [--max_steps N]
    python scripts/gpu_check.py check --out DIR --name NAME [--cpu] # the final folder against 'single' and 'init'
    accelerate launch --num_processes N scripts/gpu_check.py evaluate --out DIR --name eval1|eval2 [--cpu]
    python scripts/gpu_check.py compare_reports --out DIR --name fas2 # ifas evaluate: 2 processes vs 1 ('fas1')
    python scripts/gpu_check.py table --out DIR                     # the Markdown table, pass/fail per row

Each row passes when (tolerances stated in the table's legend, `TOLERANCES`):
- the final folder holds exactly the initial checkpoint's tensors (names, shapes; the tied head stays tied) and
  reloads with `from_pretrained`, its P(live) on the test images finite;
- the training loss went down (mean of the last 5 logged steps below the first 5);
- its weights equal the unsharded run's ('single') within the tolerance of their saved dtype, compared in that
  dtype (a bf16 save against 'single' rounded to bf16): |a - b| <= atol + rtol * |b|;
- 'eval2': the 2-process evaluation's loss and judgment accuracy equal the 1-process ones (fp32, rtol 1e-4).
- 'fas2': `ifas evaluate` sharded over 2 processes on the GPU writes the 1-process results.json metrics (rtol
  1e-4) and scores each test image once.

`--tiny` (with `--cpu`) runs the same logic on a tiny random I-FAS on the CPU: the dry run of the script itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

# (atol, rtol) per saved dtype; differences come from the configs' different bf16 rounding during 40 steps of AdamW
# (each step moves a weight by up to about the learning rate, 1e-4) and, for bf16 saves, one bf16 rounding (2^-8).
TOLERANCES = {"float32": (1e-2, 0.0), "bfloat16": (1e-2, 2.0**-7)}
EVAL_RTOL = 1e-4
TRAIN_ARGS = ["--per_device_train_batch_size", "4", "--learning_rate", "1e-4", "--use_peft", "--lora_r", "8",
              "--lora_alpha", "16", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
              "--seed", "0", "--disable_tqdm", "true", "--judgment_weight", "0.7"]


def demo_size_model():
    """The demo's shapes (IFASConfig's defaults: DINOv2-S/14 at 224 px, SmolLM2-135M with its tied head), GAC replace
    with 8 queries, random weights; a tokenizer trained in-process, whose ChatML and <image> rows train as the demo's
    added tokens do. Whole images (no face crop: no MTCNN weights needed)."""
    from configuration_ifas import IFASConfig
    from ifas.model_builders import build_processor, sync_generation_config, train_tiny_tokenizer
    from modeling_ifas import IFASForConditionalGeneration

    tokenizer = train_tiny_tokenizer()
    config = IFASConfig(image_size=224, gac_num_queries=8, gac_mode="replace")
    processor = build_processor(config, tokenizer)
    config.new_token_ids = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>", "<image>"])
    model = IFASForConditionalGeneration(config)
    sync_generation_config(model, processor)
    return model, processor


CAPTIONS = {0: "Natural skin texture and real depth show a live person.",
            1: "The face is printed on paper with halftone dots and flat colours."}


def synthetic_split(count: int, size: int, split: str, seed: int):
    """`count` contract rows of generated `size` px images: live = smooth colour fields, spoof = the same with
    alternate rows inverted (print-like stripes). What the check measures (speed, memory, save/reload) needs no
    realistic data; SynthFAS would need scikit-image's face photographs (no room among the wheels)."""
    import numpy as np
    from datasets import Dataset
    from PIL import Image

    from datasets_scripts.contract import FEATURES, make_record

    rows = []
    for i in range(count):
        label = i % 2
        rng = np.random.default_rng(seed * 100_003 + i)
        image = np.tile(rng.integers(60, 200, 3), (size, size, 1)).astype(np.float64)
        image += rng.normal(0, 8, (size, size, 3))
        if label == 1:
            image[::2] = 255 - image[::2]
        rows.append(make_record(
            image=Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), label=label,
            attack_type="none" if label == 0 else "print", dataset="gpu_check", split=split,
            subject=f"{split}_{i // 2}", video_id=f"{split}_{i}", caption=CAPTIONS[label], caption_source="template"))
    return Dataset.from_list(rows, features=FEATURES)


def prepare(out: Path, tiny: bool) -> None:
    """Generated train/dev and test splits, and the untrained I-FAS checkpoint."""
    from datasets import DatasetDict

    from ifas.model_builders import save_checkpoint, tiny_ifas

    size = 16 if tiny else 224
    DatasetDict({"train": synthetic_split(160, size, "train", 0), "dev": synthetic_split(24, size, "dev", 1)}
                ).save_to_disk(str(out / "protocol"))
    DatasetDict({"test": synthetic_split(16, size, "test", 2)}).save_to_disk(str(out / "test"))
    torch.manual_seed(0)
    if tiny:
        model, processor = tiny_ifas("dinov2", gac_num_queries=8, gac_mode="replace", tie_word_embeddings=True)
    else:
        model, processor = demo_size_model()
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


def parse(argv: list[str]):
    from trl import ModelConfig, TrlParser

    from train_sft import IFASScriptArguments, IFASSFTConfig

    return TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig)).parse_args_and_config(args=argv)


def train(out: Path, name: str, cpu: bool, max_steps: int) -> None:
    """One training run under the launching accelerate config; the final folder through `save_final`."""
    from train_sft import build_trainer, save_final

    argv = ["--model_name_or_path", str(out / "init"), "--dataset_path", str(out / "protocol"),
            "--output_dir", str(out / name), "--max_steps", str(max_steps), *TRAIN_ARGS,
            *(["--use_cpu", "--bf16", "false"] if cpu else ["--bf16", "true"])]
    script_args, training_args, model_args = parse(argv)
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
                   "peak_gpu_gib": peak, "losses": losses}
        (out / name / "gpu_check.json").write_text(json.dumps(metrics))


def check(out: Path, name: str, cpu: bool) -> None:
    """The final folder: the initial checkpoint's tensors, reloadable, scoring finitely, equal to 'single' within
    the tolerance of its dtype; the loss went down."""
    from datasets import load_from_disk
    from safetensors.torch import load_file

    from modeling_ifas import IFASForConditionalGeneration
    from processing_ifas import IFASProcessor

    folder = out / name
    metrics = json.loads((folder / "gpu_check.json").read_text())
    saved, single = load_file(folder / "model.safetensors"), load_file(out / "single" / "model.safetensors")
    start = load_file(out / "init" / "model.safetensors")
    problems = []
    if saved.keys() != start.keys() or any(saved[k].shape != start[k].shape for k in start):
        problems.append(f"tensors differ from init: {sorted(saved.keys() ^ start.keys())[:3]}")
    dtype = str(next(iter(saved.values())).dtype).removeprefix("torch.")
    atol, rtol = TOLERANCES[dtype]
    worst = 0.0
    for key in saved.keys() & single.keys():
        a, b = saved[key], single[key].to(saved[key].dtype)
        excess = ((a.float() - b.float()).abs() - rtol * b.float().abs()).max().item()
        worst = max(worst, excess)
    if worst > atol:
        problems.append(f"weights differ from single by {worst:.2e} > atol {atol:g} (+ rtol {rtol:g}·|w|)")
    losses = metrics["losses"]
    first, last = sum(losses[:5]) / len(losses[:5]), sum(losses[-5:]) / len(losses[-5:])
    if not last < first:
        problems.append(f"loss did not go down ({first:.3f} -> {last:.3f})")
    model = IFASForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    if model.config.tie_word_embeddings and model.lm_head.weight is not model.get_input_embeddings().weight:
        problems.append("the reloaded LM head is not tied")
    processor = IFASProcessor.from_pretrained(folder, trust_remote_code=True)
    device = "cpu" if cpu or not torch.cuda.is_available() else "cuda"
    images = list(load_from_disk(str(out / "test"))["test"]["image"])
    scores = model.to(device).eval().score(processor, images, crop_faces=False)
    if not all(math.isfinite(float(p)) for p in scores):
        problems.append("P(live) not finite")
    metrics |= {"dtype": dtype, "excess_vs_single": worst, "loss_first": first, "loss_last": last,
                "passed": not problems, "problems": problems}
    (folder / "gpu_check.json").write_text(json.dumps(metrics))


def evaluate(out: Path, name: str, cpu: bool) -> None:
    """The Trainer's evaluation (L-LM loss, judgment accuracy) of the 'single' final checkpoint on the dev split, fp32,
    under the launching process count; 'eval2' is compared with 'eval1'."""
    from train_sft import build_trainer

    argv = ["--model_name_or_path", str(out / "single"), "--dataset_path", str(out / "protocol"),
            "--dataset_eval_split", "dev", "--output_dir", str(out / name), "--per_device_eval_batch_size", "3",
            "--report_to", "none", "--bf16", "false", *(["--use_cpu"] if cpu else [])]
    trainer = build_trainer(*parse(argv))
    started = time.perf_counter()
    result = trainer.evaluate()
    if trainer.accelerator.is_main_process:
        (out / name).mkdir(exist_ok=True)
        metrics = {"config": name, "processes": trainer.accelerator.num_processes, "eval_s": time.perf_counter() - started,
                   "eval_loss": result["eval_loss"], "eval_judgment_accuracy": result.get("eval_judgment_accuracy")}
        if name != "eval1":
            reference = json.loads((out / "eval1" / "gpu_check.json").read_text())
            problems = [f"{key} {metrics[key]:.6f} != {reference[key]:.6f} (1 process)"
                        for key in ("eval_loss", "eval_judgment_accuracy")
                        if not math.isclose(metrics[key], reference[key], rel_tol=EVAL_RTOL)]
            if metrics["processes"] != int(name.removeprefix("eval")):
                problems.append(f"ran with {metrics['processes']} process(es), not {name.removeprefix('eval')}")
            metrics |= {"passed": not problems, "problems": problems}
        (out / name / "gpu_check.json").write_text(json.dumps(metrics))


def _same(got, expected) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(got, expected, rel_tol=EVAL_RTOL, abs_tol=1e-9) or math.isnan(got) and math.isnan(expected)
    return got == expected


def compare_reports(out: Path, name: str) -> None:
    """'fas2': `ifas evaluate` under 2 processes (sharing the GPU, gloo) wrote the results.json metrics of 1 process
    ('fas1'), each test image scored once, in row order."""
    reports = {run: out / run / "report" for run in ("fas1", name)}
    single, sharded = (json.loads((path / "results.json").read_text()) for path in reports.values())
    problems = [f"{target} {key} {sharded['targets'].get(target, {}).get(key)} != {value} (1 process)"
                for target, metrics in single["targets"].items() for key, value in metrics.items()
                if not _same(sharded["targets"].get(target, {}).get(key), value)]
    rows = [json.loads(line)["row"] for line in (reports[name] / "scores" / "test.jsonl").read_text().splitlines()[1:]]
    if rows != list(range(len(rows))) or len(rows) != single["targets"]["test"]["num_samples"]:
        problems.append(f"scores/test.jsonl rows {rows}: not each test image once")
    target = sharded["targets"]["test"]
    metrics = {"config": name, "processes": 2, "auc": target["auc"], "hter": target.get("hter"),
               "passed": not problems, "problems": problems}
    (out / name / "gpu_check.json").write_text(json.dumps(metrics))


def table(out: Path) -> str:
    legend = ("Tolerances: weights vs 'single' |a - b| <= atol + rtol·|b| in the saved dtype, "
              + ", ".join(f"{d}: atol {a:g}, rtol {r:g}" for d, (a, r) in TOLERANCES.items())
              + f"; 2-process evaluation vs 1 process: rtol {EVAL_RTOL:g}.")
    lines = [legend, "", "| config | result | steps/s | peak GPU memory (GiB) | loss first5 -> last5 | saved dtype | "
             "max excess vs single | notes |", "|---|---|---|---|---|---|---|---|"]
    failed = False
    for path in sorted(out.glob("*/gpu_check.json"), key=lambda p: p.stat().st_mtime):
        m = json.loads(path.read_text())
        if "passed" not in m:
            continue
        failed |= not m["passed"]
        verdict = "PASS" if m["passed"] else "FAIL"
        notes = "; ".join(m["problems"]) or "-"
        if "eval_loss" in m:
            lines.append(f"| {m['config']} ({m['processes']} processes) | {verdict} | - | - | eval loss "
                         f"{m['eval_loss']:.4f}, judgment acc {m['eval_judgment_accuracy']:.3f} | float32 | - | {notes} |")
            continue
        if "auc" in m:
            lines.append(f"| {m['config']} ({m['processes']} processes) | {verdict} | - | - | ifas evaluate test AUC "
                         f"{m['auc']:.4f}, HTER {m['hter']} | float32 | - | {notes} |")
            continue
        lines.append(f"| {m['config']} | {verdict} | {m['steps_per_s']:.2f} | {m['peak_gpu_gib']:.2f} | "
                     f"{m['loss_first']:.3f} -> {m['loss_last']:.3f} | {m['dtype']} | {m['excess_vs_single']:.2e} | "
                     f"{notes} |")
    lines.append("")
    lines.append("overall: " + ("FAIL" if failed else "PASS"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["prepare", "train", "check", "evaluate", "compare_reports", "table"])
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
    elif args.stage == "check":
        check(args.out, args.name, args.cpu)
    elif args.stage == "evaluate":
        evaluate(args.out, args.name, args.cpu)
    elif args.stage == "compare_reports":
        compare_reports(args.out, args.name)
    else:
        text = table(args.out)
        print(text)
        if text.endswith("FAIL"):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
