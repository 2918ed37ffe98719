"""End-to-end prediction speed of the demo-size model on this CPU, fp32 and dynamic int8, with the accuracy cost.

    .venv/bin/python bench/bench_predict.py [--checkpoint outputs/demo/checkpoint] [--batch 16] [--no-write]

The model is the trained demo checkpoint (DINOv2 ViT-S/14 at 224 px + SmolLM2-135M, GAC replace: run `make demo`
first); without it, a random model of the same shape (`benchlib.small_config` with the demo's 30 layers and 8 GAC
queries): timings only, no AUC. For fp32 and for `ifas.infer.cpu_speed.quantize_for_cpu` (int8) it measures
(a) `ifas predict` on a folder of 512 px photos (the scikit-image astronaut): decode, MTCNN, crop, preprocess,
forward, JSON lines; (b) `score` on 224 px face crops on disk (`crop_faces=False`): decode, preprocess, forward;
(c) the vision tower alone at 224 px (fp32 forward: the issue's yardstick); and, with the checkpoint, the AUC of
`score` on the SynthFAS test split of the demo's corpus (all four domains) and its change under int8.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, small_config, write_section  # noqa: E402

sys.path.insert(0, str(ROOT))


def rate(n: int, run, repeats: int = 2) -> float:
    """Images per second of `run` (which handles `n` images), best of `repeats` after one warm-up."""
    run()
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def demo_size_model():
    """(model, processor, trained): the demo checkpoint when it exists, else a random model of its shape."""
    from faces_ifas import DEFAULT_FACE_CROP
    from ifas.model_builders import build_processor, train_tiny_tokenizer
    from modeling_ifas import IFASForConditionalGeneration

    tokenizer = train_tiny_tokenizer()
    config = small_config(gac_mode="replace")
    config.gac_num_queries = 8
    config.text_config.num_hidden_layers = 30
    config.text_config.vocab_size = max(config.text_config.vocab_size, len(tokenizer))
    torch.manual_seed(0)
    return IFASForConditionalGeneration(config).eval(), build_processor(config, tokenizer, face_crop=DEFAULT_FACE_CROP)


def test_split_auc(model, processor, corpus_path: Path, batch: int) -> float:
    from datasets import load_from_disk
    from sklearn.metrics import roc_auc_score

    test = load_from_disk(str(corpus_path))["test"]
    scores = model.score(processor, test["image"], batch_size=batch, crop_faces=False)
    return float(roc_auc_score([label == 0 for label in test["label"]], scores.numpy()))


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "outputs" / "demo" / "checkpoint"))
    parser.add_argument("--corpus", default=str(ROOT / "outputs" / "demo" / "synthfas"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from PIL import Image
    from skimage import data

    from ifas.evaluation import load_model
    from faces_ifas import DEFAULT_FACE_CROP, find_face
    from ifas.cli.predict import predict
    from ifas.infer.cpu_speed import quantize_for_cpu

    trained = (Path(args.checkpoint) / "config.json").exists()
    if trained:
        model, processor = load_model(args.checkpoint, "cpu", "float32")
        processor.face_crop = processor.face_crop or DEFAULT_FACE_CROP
    else:
        model, processor = demo_size_model()
    photo = Image.fromarray(data.astronaut())
    crop = find_face(photo, DEFAULT_FACE_CROP).image
    folder = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    (folder / "photos").mkdir()
    crops = []
    for i in range(args.images):
        photo.save(folder / "photos" / f"photo_{i}.png")
        crops.append(folder / f"crop_{i}.png")
        crop.save(crops[-1])
    pixels = processor.image_processor([crop] * args.batch, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        tower = rate(args.batch, lambda: model.model.vision_tower(pixel_values=pixels))

    def predict_folder(m):
        with redirect_stdout(io.StringIO()):
            predict(m, processor, [folder / "photos"], batch_size=args.batch)

    rows, aucs = [], {}
    for name, variant in (("fp32", model), ("dynamic int8", quantize_for_cpu(model))):
        rows.append((name, rate(args.images, lambda m=variant: predict_folder(m), repeats=1),
                     rate(args.images, lambda m=variant: m.score(processor, [str(p) for p in crops],
                                                                 batch_size=args.batch, crop_faces=False))))
        if trained and (Path(args.corpus) / "dataset_dict.json").exists():
            aucs[name] = test_split_auc(variant, processor, Path(args.corpus), args.batch)
    lines = ["| model | `ifas predict`, 512 px photos (img/s) | `score`, 224 px crops (img/s) | `score` / tower alone "
             "| AUC, SynthFAS test split | AUC change |", "|---|---|---|---|---|---|"]
    for name, predicted, scored in rows:
        auc = aucs.get(name)
        change = "" if auc is None or name == "fp32" else f"{auc - aucs['fp32']:+.4f}"
        lines.append(f"| {name} | {predicted:.2f} | {scored:.2f} | {scored / tower:.2f} | "
                     f"{'n/a' if auc is None else f'{auc:.4f}'} | {change} |")
    what = (f"the trained demo checkpoint `{args.checkpoint}`" if trained else
            "a random model of the demo's shape (no checkpoint: timings only)")
    body = (
        f"`python bench/bench_predict.py --batch {args.batch} --images {args.images}`; {machine_line()}. "
        f"Model: {what}; batch {args.batch}. The vision tower alone (fp32 forward at 224 px): {tower:.2f} img/s.\n\n"
        + "\n".join(lines) + "\n\n`ifas predict` includes MTCNN on each 512 px photo (the crop rule of training); "
        "`score` reads 224 px crops from disk (decode, preprocess, forward). Dynamic int8: `ifas predict --int8`, "
        "`ifas.infer.cpu_speed.quantize_for_cpu` (Linear layers of the tower and the LM; GAC and the LM head stay "
        "fp32). AUC: `score` on the test split of the demo corpus (all four domains), threshold-free."
    )
    text = section("Prediction speed on CPU: fp32 and int8 (bench/bench_predict.py)", body)
    print(text)
    if not args.no_write:
        write_section(text)
    return text


if __name__ == "__main__":
    main()
