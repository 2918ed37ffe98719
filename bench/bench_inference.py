"""Inference speed of the small I-FAS config on this CPU: score vs bare forward vs 48-token generation.

    .venv/bin/python bench/bench_inference.py [--batch 4] [--repeats 3] [--no-write]

(a) `score_inputs`: one forward pass computing only the last position's logits, softmax over Yes/No;
(b) `generate` of exactly 48 new tokens (KV cache); (c) a bare forward over the same inputs (all logits).
Targets: (a)/(c) <= 1.10 and (b)/(a) >= 10. Random weights (built in code, no download); timings only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line, proc_status_mib, section, small_config, write_section  # noqa: E402


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from ifas.model_builders import build_processor, sync_generation_config, train_tiny_tokenizer
    from modeling_ifas import IFASForConditionalGeneration
    from tiny_images import face_like_images

    torch.manual_seed(0)
    tokenizer = train_tiny_tokenizer()
    config = small_config()
    processor = build_processor(config, tokenizer)
    model = IFASForConditionalGeneration(config).eval()
    sync_generation_config(model, processor)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    inputs = processor.prepare_inputs(face_like_images(args.batch))

    with torch.inference_mode():
        score = best_of(args.repeats, lambda: model.score_inputs(**inputs))
        forward = best_of(args.repeats, lambda: model(**inputs, use_cache=False))
        generate = best_of(1, lambda: model.generate(**inputs, max_new_tokens=48, min_new_tokens=48, do_sample=False))
    n = args.batch
    body = "\n".join([
        f"Command: `.venv/bin/python bench/bench_inference.py --batch {n} --repeats {args.repeats}`. "
        f"Machine: {machine_line()}. Model: {params:.0f}M parameters (DINOv2 ViT-S/14 shape, 224 px, GAC 32 "
        f"queries + 12 layer tokens = {config.num_image_tokens} visual tokens; 12-layer SmolLM2-width Llama), random "
        f"weights, fp32, batch {n}, best of {args.repeats} (generation: one run).",
        "",
        "| Path | Seconds / batch | Images/s |",
        "|---|---|---|",
        f"| (a) score (one forward, last-position logits) | {score:.3f} | {n / score:.2f} |",
        f"| (b) judge-style generate, 48 new tokens | {generate:.3f} | {n / generate:.2f} |",
        f"| (c) bare forward, all logits | {forward:.3f} | {n / forward:.2f} |",
        "",
        f"Ratios: (a)/(c) = {score / forward:.2f} (target <= 1.10); (b)/(a) = {generate / score:.1f} (target >= 10). "
        f"Peak RSS: {proc_status_mib('VmHWM'):.0f} MiB. One cached decoding step costs "
        f"{1000 * (generate - score) / 48:.0f} ms per batch against {1000 * score:.0f} ms for the "
        f"{inputs['input_ids'].shape[1]}-token prefill, so 48 new tokens cost (b)/(a) times a score here; "
        "the ratio grows with the explanation length and with hardware where prefill is cheap (GPUs).",
    ])
    print(body)
    if not args.no_write:
        write_section(section("Inference (bench/bench_inference.py)", body))
    return body


if __name__ == "__main__":
    main()
