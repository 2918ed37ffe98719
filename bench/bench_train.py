"""Training step time and peak RSS: I-FAS vs transformers' LLaVA (same vision/text configs, batch, image size),
and the L-LM loss vs plain NLL on the same model.

    .venv/bin/python bench/bench_train.py [--batch 2] [--steps 3] [--no-write]

Each case runs in a fresh process (its own peak RSS): AdamW, vision tower frozen, fp32, random weights.
Targets: I-FAS / LLaVA step time <= 1.15; L-LM / NLL <= 1.02.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line, proc_status_mib, section, small_config, write_section  # noqa: E402

CASES = {
    "llava_nll": "LLaVA (LlavaForConditionalGeneration), plain NLL",
    "ifas_nll": "I-FAS (GAC appended), plain NLL",
    "ifas_llm": "I-FAS (GAC appended), L-LM loss (alpha 0.7)",
    "ifas_nogac_nll": "I-FAS without GAC (= LLaVA token count), plain NLL",
}


def build(case: str):
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    from ifas.model_builders import build_processor, train_tiny_tokenizer
    from modeling_ifas import IFASForConditionalGeneration

    tokenizer = train_tiny_tokenizer()
    config = small_config(use_gac=case != "ifas_nogac_nll")
    processor = build_processor(config, tokenizer)
    torch.manual_seed(0)
    if case == "llava_nll":
        llava_config = LlavaConfig(vision_config=config.vision_config.to_dict(), text_config=config.text_config.to_dict(),
                                   image_token_id=config.image_token_id, vision_feature_layer=-1,
                                   vision_feature_select_strategy="default", image_seq_length=256)
        model = LlavaForConditionalGeneration(llava_config)
        processor.num_image_tokens = 256  # LLaVA's patch tokens only
        model.model.vision_tower.requires_grad_(False)
    else:
        model = IFASForConditionalGeneration(config)
        model.model.vision_tower.requires_grad_(False)
    return model.train(), processor


def run_case(case: str, batch: int, steps: int) -> dict:
    from ifas.train.sft_data import IFASCollator
    from tiny_images import face_like_images
    from train_sft import lopsided_loss, lopsided_loss_terms

    model, processor = build(case)
    collator = IFASCollator(processor)
    rows = [{"image": image, "label": i % 2, "caption": "The face is printed on paper with halftone dots."}
            for i, image in enumerate(face_like_images(batch, 224))]
    inputs = collator(rows)
    labels = inputs.pop("labels")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step():
        if case == "ifas_llm":
            terms = lopsided_loss_terms(model(**inputs, use_cache=False).logits, labels)
            loss = lopsided_loss(terms, 0.7, terms["judgment_count"], terms["interpretation_count"])
        else:
            loss = model(**inputs, labels=labels, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"seconds": sorted(times)[len(times) // 2], "peak_rss_mib": proc_status_mib("VmHWM"),
            "sequence": int(inputs["input_ids"].shape[1])}


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.case:
        print("RESULT" + json.dumps(run_case(args.case, args.batch, args.steps)))
        return ""
    results = {}
    for case in CASES:
        run = subprocess.run([sys.executable, __file__, "--case", case, "--batch", str(args.batch),
                              "--steps", str(args.steps)], capture_output=True, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if run.returncode != 0:
            raise RuntimeError(f"case {case} failed:\n{run.stderr[-3000:]}")
        results[case] = json.loads(run.stdout.split("RESULT", 1)[1])
    rows = [f"| {CASES[c]} | {r['sequence']} | {r['seconds']:.2f} | {r['peak_rss_mib']:.0f} |"
            for c, r in results.items()]
    ratio_llava = results["ifas_nll"]["seconds"] / results["llava_nll"]["seconds"]
    ratio_loss = results["ifas_llm"]["seconds"] / results["ifas_nll"]["seconds"]
    body = "\n".join([
        f"Command: `.venv/bin/python bench/bench_train.py --batch {args.batch} --steps {args.steps}`. "
        f"Machine: {machine_line()}. Small config (DINOv2 ViT-S/14 shape at 224 px, 12-layer SmolLM2-width Llama, "
        f"~96M parameters), vision tower frozen, AdamW, fp32, batch {args.batch}, median of {args.steps} steps after "
        "one warm-up, each case in a fresh process.",
        "",
        "| Case | Sequence length | Seconds / step | Peak RSS (MiB) |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Ratios: I-FAS / LLaVA = {ratio_llava:.2f} (target <= 1.15; I-FAS carries 44 more visual tokens and the GAC "
        f"block); L-LM / NLL = {ratio_loss:.2f} (target <= 1.02).",
    ])
    print(body)
    if not args.no_write:
        write_section(section("Training (bench/bench_train.py)", body))
    return body


if __name__ == "__main__":
    main()
