"""Benchmark evaluation throughput (images/s) of the small I-FAS config; rows go to BENCHMARKS.md.

The small config is `IFASConfig(image_size=224)`: a DINOv2 ViT-S/14-shaped tower (12 layers, 384 wide) and a
SmolLM2-135M-shaped Llama (30 layers, 576 wide, 49,153-token vocabulary), random weights built in code (no download),
GAC with 32 queries. Cases, after one warm-up batch:
- ``score_dataset``: the evaluation loop of `ifas.evaluation` (JPEG decode, preprocessing, one forward pass per batch);
- ``score_inputs``: the forward pass alone on prepared batches.

Run: ``.venv/bin/python bench/bench_eval.py [--batches 2] [--no-write]``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from PIL import Image

from configuration_ifas import IFASConfig
from datasets_scripts.contract import FEATURES, make_record
from ifas.evaluation import score_dataset
from ifas.model_builders import build_processor, sync_generation_config, train_tiny_tokenizer
from modeling_ifas import IFASForConditionalGeneration
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Evaluation (bench/bench_eval.py)"
BATCH_SIZE = 8
SOURCE_SIZE = 320  # JPEGs a little larger than the 224 px input, so resizing is part of the loop


def small_model():
    """The small config with random weights and a tiny in-process tokenizer (the vocabulary keeps its full size)."""
    tokenizer = train_tiny_tokenizer()
    config = IFASConfig(image_size=224)
    processor = build_processor(config, tokenizer)
    torch.manual_seed(0)
    model = IFASForConditionalGeneration(config)
    sync_generation_config(model, processor)
    return model.eval(), processor


def jpeg_dataset(n: int) -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (SOURCE_SIZE, SOURCE_SIZE, 3), dtype=np.uint8)).save(buffer, "JPEG")
        label = i % 2
        rows.append(make_record(image={"bytes": buffer.getvalue(), "path": None}, label=label,
                                attack_type="print" if label else "none", dataset="bench", split="test",
                                subject=str(i), video_id=str(i)))
    return Dataset.from_list(rows, features=FEATURES)


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=2, help="timed batches of 8 per case")
    parser.add_argument("--no-write", action="store_true", help="print the rows without editing BENCHMARKS.md")
    args = parser.parse_args()
    model, processor = small_model()
    n_params = sum(p.numel() for p in model.parameters())
    n_images = BATCH_SIZE * args.batches
    dataset = jpeg_dataset(n_images)
    warm_up = dataset.select(range(BATCH_SIZE))
    score_dataset(model, processor, warm_up, BATCH_SIZE, desc="warm-up")
    loop_seconds = timed(lambda: score_dataset(model, processor, dataset, BATCH_SIZE, desc="score_dataset"))
    inputs = processor.prepare_inputs(warm_up["image"])
    tokens = inputs["input_ids"].shape[1]
    forward_seconds = timed(lambda: [model.score_inputs(**inputs) for _ in range(args.batches)])
    rows = [("score_dataset: JPEG decode + preprocessing + forward", loop_seconds),
            ("score_inputs: forward pass only", forward_seconds)]
    lines = [
        SECTION,
        "",
        "Small config: IFASConfig(image_size=224), DINOv2 ViT-S/14 shape + SmolLM2-135M-shaped Llama, random weights, "
        f"{n_params / 1e6:.0f}M parameters, {model.config.num_image_tokens} visual tokens "
        f"({tokens} tokens per prompt). "
        f"Batch {BATCH_SIZE}, {n_images} images of {SOURCE_SIZE}x{SOURCE_SIZE} JPEG per case after one warm-up batch; "
        f"CPU fp32, {os.cpu_count()} cores shared with other jobs (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}); one run.",
        "",
        "| Case | Images | Seconds | Images/s |",
        "|---|---|---|---|",
    ]
    lines += [f"| {case} | {n_images} | {seconds:.1f} | {n_images / seconds:.2f} |" for case, seconds in rows]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
