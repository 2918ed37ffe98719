"""Benchmark SCF on this CPU: captions/s of a tiny random LLaVA (batch 1 and 8), the template captioner, the filter
and the consistency judge. Prints Markdown rows and writes them under "## SCF (bench/bench_scf.py)" in BENCHMARKS.md.

    .venv/bin/python bench/bench_scf.py [--images 16] [--repeats 3] [--no-write]

The captioner is a randomly initialised LLaVA of a few million parameters (tiny CLIP vision tower + tiny Llama,
32x32 input = 64 image tokens) built in-process: it measures the pipeline's overhead and the scaling with batch
size, not a real captioner's speed. Generation is greedy, 32 new tokens per caption (it never stops early).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from datasets_scripts.scf.caption_filter import judge_caption  # noqa: E402
from datasets_scripts.scf.consistency import judge_answer  # noqa: E402
from datasets_scripts.scf.pipeline_captioner import PipelineCaptioner  # noqa: E402
from datasets_scripts.scf.template_captioner import template_caption  # noqa: E402
from datasets_scripts.scf.tiny_captioner import save_tiny_llava_captioner  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## SCF (bench/bench_scf.py)"
ATTACKS = [("none", ""), ("print", "printed_photo"), ("replay", "ipad_video"), ("mask", "silicone"), ("mask", "Mc"),
           ("makeup", "Im"), ("partial", "Funnyeye"), ("other", "")]
MAX_NEW_TOKENS = 32


def rows_for(count: int) -> list[dict]:
    """`count` rows with 224x224 images cycling over the attack families."""
    rows = []
    for i in range(count):
        attack, detail = ATTACKS[i % len(ATTACKS)]
        image = Image.new("RGB", (224, 224), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256))
        rows.append({"image": image, "label": int(attack != "none"), "attack_type": attack, "attack_detail": detail})
    return rows


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.1f}"


def bench_pipeline(path: str, rows: list[dict], batch_size: int, repeats: int) -> tuple[float, float]:
    """(best seconds over `repeats` runs on rows, seconds of the warm-up call)."""
    captioner = PipelineCaptioner(path, batch_size=batch_size, max_new_tokens=MAX_NEW_TOKENS)
    start = time.perf_counter()
    captioner.caption(rows[:batch_size])
    warmup = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        captioner.caption(rows)
        best = min(best, time.perf_counter() - start)
    return best, warmup


def bench_cpu(images: int, repeats: int) -> list[str]:
    table = []
    rows = rows_for(images)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny_llava_captioner(Path(tmp) / "tiny", hidden_size=256, num_layers=4, image_size=32,
                                         patch_size=4)
        from transformers import AutoModelForImageTextToText

        params = sum(p.numel() for p in AutoModelForImageTextToText.from_pretrained(path).parameters())
        for batch_size in (1, 8):
            seconds, warmup = bench_pipeline(path, rows, batch_size, repeats)
            table.append(f"| tiny random LLaVA ({params / 1e6:.1f} M params), pipeline, batch {batch_size} | "
                         f"{images} images, max_new_tokens={MAX_NEW_TOKENS}, best of {repeats} | "
                         f"{rate(images, seconds)} | first call {warmup:.2f} s |")
    count = 20_000
    keys = [(ATTACKS[i % len(ATTACKS)], str(i)) for i in range(count)]
    start = time.perf_counter()
    captions = [template_caption(a, d, seed=0, key=k) for (a, d), k in keys]
    table.append(f"| template captioner | {count:,} rows | {rate(count, time.perf_counter() - start)} | |")
    gibberish = ["xq zzv plorb " * 3] * count
    mixed = [c if i % 2 else g for i, (c, g) in enumerate(zip(captions, gibberish))]
    start = time.perf_counter()
    kept = sum(judge_caption(c, int(a != "none"), a, d).kept for c, ((a, d), _) in zip(mixed, keys))
    table.append(f"| caption filter (judge_caption) | {count:,} captions, half template / half gibberish | "
                 f"{rate(count, time.perf_counter() - start)} | kept {kept:,} |")
    answers = [("No. " if a != "none" else "Yes. ") + c for c, ((a, _), _) in zip(captions, keys)]
    start = time.perf_counter()
    for answer, ((a, d), _) in zip(answers, keys):
        judge_answer(answer, int(a != "none"), a, d)
    seconds = time.perf_counter() - start
    table.append(f"| consistency judge (judge_answer) | {count:,} answers | {rate(count, seconds)} | |")
    return table


def section_text(table: list[str]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = (f"{os.cpu_count()} CPU cores shared with other jobs (load average {load} at the end), torch "
              f"{torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}; "
              "throughput after a warm-up call; the pipeline rows vary several-fold with the load.")
    return "\n".join([SECTION, "", header, "", "| Case | Setting | Captions/s | Notes |", "|---|---|---|---|",
                      *table]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=16, help="images per pipeline run")
    parser.add_argument("--repeats", type=int, default=3, help="pipeline runs per case (the best counts)")
    parser.add_argument("--no-write", action="store_true", help="print the rows without editing BENCHMARKS.md")
    args = parser.parse_args()
    section = section_text(bench_cpu(args.images, args.repeats))
    print(section)
    if not args.no_write:
        write_section(section)


if __name__ == "__main__":
    main()
