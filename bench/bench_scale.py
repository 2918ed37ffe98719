"""Building a ~1B-parameter I-FAS and deciding what to freeze, before and after issue 11, into BENCHMARKS.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_scale.py            # about a minute, ~9 GB of host memory
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_scale.py --no_write # print only

Each measurement runs in a fresh process (peak RSS = VmHWM of that process, imports included):
- build, old: `IFASForConditionalGeneration(config)`, every weight allocated and randomly initialised in fp32
  (what `from_backbones` does, before its backbone copies);
- build, meta: the same under accelerate's `init_empty_weights()` (parameters on the meta device, buffers real),
  how `from_pretrained` builds before it reads the weights, and what the final save builds its plain copy with;
- freeze, old: the pre-issue-11 `freeze_unused_parameters` cost, one fp32 forward + backward on one image (vision tower
  trainable: `--freeze_vision_tower false`, the case where unused layers matter), then the names whose .grad is None;
- freeze, new: `ifas.train.freezing.freeze_unused_parameters`, from the module structure (on the meta-built model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchlib import ROOT, machine_line, proc_status_mib, section, write_section

sys.path.insert(0, str(ROOT))

VISION = dict(model_type="dinov2", hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14,
              image_size=224, layer_norm_eps=1e-6)
TEXT = dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=5504, num_hidden_layers=12,
            num_attention_heads=16, num_key_value_heads=16, tie_word_embeddings=False)


def one_billion_config():
    from configuration_ifas import IFASConfig

    return IFASConfig(vision_config=VISION, text_config=TEXT, gac_num_queries=32, vision_feature_layer=-2,
                      gac_layers=list(range(1, 24)))


def child(kind: str) -> dict:
    import torch
    from accelerate import init_empty_weights

    from ifas.model_builders import build_processor, train_tiny_tokenizer
    from ifas.train.freezing import freeze_unused_parameters
    from modeling_ifas import IFASForConditionalGeneration

    config = one_billion_config()
    processor = build_processor(config, train_tiny_tokenizer())
    torch.manual_seed(0)
    baseline = proc_status_mib("VmHWM")
    started = time.perf_counter()
    if kind in ("build_old", "freeze_old"):
        model = IFASForConditionalGeneration(config)
    else:
        with init_empty_weights():
            model = IFASForConditionalGeneration(config)
    result = {"build_s": time.perf_counter() - started, "params": sum(p.numel() for p in model.parameters())}
    if kind == "freeze_old":
        from PIL import Image

        model.train()
        started = time.perf_counter()
        inputs = processor.prepare_inputs([Image.new("RGB", (224, 224))])
        model(**inputs).logits.float().sum().backward()
        unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        result |= {"freeze_s": time.perf_counter() - started, "frozen": len(unused)}
    elif kind == "freeze_new":
        started = time.perf_counter()
        frozen = freeze_unused_parameters(model)
        result |= {"freeze_s": time.perf_counter() - started, "frozen": len(frozen)}
    return result | {"imports_mib": baseline, "peak_rss_mib": proc_status_mib("VmHWM")}


def measure(kind: str) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", kind], capture_output=True, text=True, cwd=ROOT)
    if run.returncode:
        raise RuntimeError(f"{kind} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no_write", action="store_true", help="print the rows without touching BENCHMARKS.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = {kind: measure(kind) for kind in ("build_meta", "freeze_new", "build_old", "freeze_old")}
    params = results["build_old"]["params"]
    rows = ["| step | method | time (s) | peak RSS (MiB) |", "|---|---|---|---|"]
    for kind, step, method in (("build_old", "build", "`IFASForConditionalGeneration(config)`, fp32 init"),
                               ("build_meta", "build", "`init_empty_weights()` (meta parameters)"),
                               ("freeze_old", "freeze", "old: fp32 forward + backward, .grad is None"),
                               ("freeze_new", "freeze", "new: module structure (`ifas.train.freezing`)")):
        r = results[kind]
        seconds = r["freeze_s"] if step == "freeze" else r["build_s"]
        rows.append(f"| {step} | {method} | {seconds:.3f} | {r['peak_rss_mib']:.0f} |")
    frozen = (results["freeze_old"]["frozen"], results["freeze_new"]["frozen"])
    body = (f"`OMP_NUM_THREADS=1 .venv/bin/python bench/bench_scale.py`; {machine_line()}; shared machine (other "
            f"jobs running), so times are indicative. A {params / 1e9:.2f}B-parameter I-FAS (DINOv2-L-shaped tower "
            f"at 224 px, 12-layer 2048-wide Llama, LLaVA's `vision_feature_layer=-2`), random weights. Peak RSS of "
            f"the measuring process (imports alone: {results['build_meta']['imports_mib']:.0f} MiB). Freezing flags "
            f"{frozen[0]} (old) and {frozen[1]} (new) trainable-but-unused tensors (vision tower trainable; "
            "`tests/test_freezing.py` pins the two sets equal on tiny models); the old freeze row's RSS includes its "
            "fp32 model, the new one runs on the meta-built model.")
    text = section("Scale: build and freezing at 1B (bench/bench_scale.py)", body + "\n\n" + "\n".join(rows))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
