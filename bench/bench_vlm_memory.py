"""Host memory to convert a LLaVA checkpoint into I-FAS (`from_pretrained_vlm`), measured at ~1B, into BENCHMARKS.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_vlm_memory.py            # about a minute, ~5 GB of disk and RAM
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_vlm_memory.py --no_write # print only

Writes a random fp16 LLaVA checkpoint (CLIP ViT-L/14-shaped tower at 224 px, 12-layer 2048-wide Llama, llava-hf's
tensor names) into a temporary folder, then in a fresh process converts it with `from_pretrained_vlm(dtype=fp16)`
(what rank 0 does under DDP / ZeRO-2 with `--dtype float16`) and with the fp32 default, and reports the peak RSS above
the imports against the checkpoint's size; the 7B figure is that ratio applied to LLaVA-1.5-7B's 7.06B parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from benchlib import ROOT, machine_line, proc_status_mib, section, write_section

sys.path.insert(0, str(ROOT))

VISION = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
              num_attention_heads=16, patch_size=14, image_size=224, projection_dim=768)
TEXT = dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=5504, num_hidden_layers=12,
            num_attention_heads=16, num_key_value_heads=16, tie_word_embeddings=False)
LLAVA_7B_PARAMS = 7.06e9


def write_checkpoint(folder: str) -> int:
    """A random fp16 LLaVA checkpoint and its processor in `folder`; returns its parameter count."""
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    from ifas.model_builders import train_tiny_tokenizer
    from processing_ifas import CHAT_TEMPLATE

    tokenizer = train_tiny_tokenizer()
    config = LlavaConfig(vision_config=VISION, text_config=TEXT, image_token_index=tokenizer.convert_tokens_to_ids(
        "<image>"), vision_feature_layer=-2, vision_feature_select_strategy="default")
    with init_empty_weights():
        model = LlavaForConditionalGeneration(config)
    generator = torch.Generator().manual_seed(0)
    tensors = {name: (torch.randn(p.shape, generator=generator) * 0.02).half()
               for name, p in model.state_dict().items()}
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, patch_size=14,
                   num_additional_image_tokens=1, vision_feature_select_strategy="default").save_pretrained(folder)
    return sum(t.numel() for t in tensors.values())


def child(folder: str, dtype_name: str) -> dict:
    import torch

    from ifas.model_builders import from_pretrained_vlm

    baseline = proc_status_mib("VmHWM")
    model, _ = from_pretrained_vlm(folder, dtype=getattr(torch, dtype_name), gac_num_queries=32)
    loaded = proc_status_mib("VmHWM")
    with torch.no_grad():  # read every weight once: memory-mapped pages become resident (what training does)
        for parameter in model.parameters():
            parameter.float().sum()
    params = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    return {"imports_mib": baseline, "loaded_peak_mib": loaded, "peak_rss_mib": proc_status_mib("VmHWM"),
            "model_mib": params}


def measure(folder: str, dtype_name: str) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", folder, "--dtype", dtype_name], capture_output=True,
                         text=True, cwd=ROOT)
    if run.returncode:
        raise RuntimeError(f"{dtype_name} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float16", help=argparse.SUPPRESS)
    parser.add_argument("--no_write", action="store_true", help="print the rows without touching BENCHMARKS.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dtype)))
        return
    with tempfile.TemporaryDirectory() as folder:
        params = write_checkpoint(folder)
        file_mib = os.path.getsize(os.path.join(folder, "model.safetensors")) / 2**20
        results = {dtype: measure(folder, dtype) for dtype in ("float16", "float32")}
    rows = ["| `from_pretrained_vlm` dtype | model (MiB) | peak RSS above imports after the load (MiB) | ... after "
            "reading every weight (MiB) | x checkpoint size | 7B by arithmetic (GiB) |", "|---|---|---|---|---|---|"]
    for dtype, r in results.items():
        loaded, above = r["loaded_peak_mib"] - r["imports_mib"], r["peak_rss_mib"] - r["imports_mib"]
        rows.append(f"| {dtype} | {r['model_mib']:.0f} | {loaded:.0f} | {above:.0f} | {above / file_mib:.2f} | "
                    f"{above / file_mib * LLAVA_7B_PARAMS * 2 / 2**30:.1f} |")
    body = (f"`OMP_NUM_THREADS=1 .venv/bin/python bench/bench_vlm_memory.py`; {machine_line()}. A random "
            f"{params / 1e9:.2f}B-parameter fp16 LLaVA checkpoint ({file_mib:.0f} MiB, one safetensors file) "
            "converted to I-FAS in a fresh process; peak RSS (VmHWM) above the imports "
            f"({results['float16']['imports_mib']:.0f} MiB), right after the load (memory-mapped pages not yet read "
            "are not resident) and after reading every weight once. The 7B column scales the last ratio to "
            "LLaVA-1.5-7B's fp16 checkpoint (7.06B parameters, 13.2 GiB): the host memory of that conversion on one "
            "rank.")
    text = section("Scale: host memory of a LLaVA conversion at 1B (bench/bench_vlm_memory.py)",
                   body + "\n\n" + "\n".join(rows))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
