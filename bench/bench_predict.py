"""End-to-end `score` speed of the demo-size model on this CPU, with and without the face crop, against its vision
tower alone: where the time of a prediction goes.

    .venv/bin/python bench/bench_predict.py [--batch 16] [--images 32] [--no-write]

The model is `benchlib.small_config` (DINOv2 ViT-S/14 at 224 px + a 12-layer SmolLM2-width LM, replace-size
connector), random weights: timings only. Images: the scikit-image astronaut photo (512 x 512 PNG on disk).
(a) `score` on the photo files with `face_crop` on: decode, MTCNN, crop, preprocess, forward;
(b) `score` on 224 px face crops already on disk (`crop_faces=False`): decode, preprocess, forward;
(c) the MTCNN detection alone per photo; (d) one fp32 forward of the vision tower alone at 224 px.
Reported: images/s of each and the ratio (b)/(d), the issue's target being >= 1 at batch 16.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line, section, small_config, write_section  # noqa: E402


def rate(n: int, run, repeats: int = 2) -> float:
    """Images per second of `run` (which handles `n` images), best of `repeats` after one warm-up."""
    run()
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from PIL import Image
    from skimage import data

    from faces_ifas import DEFAULT_FACE_CROP, find_face, get_detector
    from ifas_build import build_processor, train_tiny_tokenizer
    from modeling_ifas import IFASForConditionalGeneration

    tokenizer = train_tiny_tokenizer()
    config = small_config()
    processor = build_processor(config, tokenizer, face_crop=DEFAULT_FACE_CROP)
    config.text_config.vocab_size = max(config.text_config.vocab_size, len(tokenizer))
    torch.manual_seed(0)
    model = IFASForConditionalGeneration(config).eval()
    photo = Image.fromarray(data.astronaut())
    crop = find_face(photo, DEFAULT_FACE_CROP).image
    folder = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    photos, crops = [], []
    for i in range(args.images):
        photos.append(folder / f"photo_{i}.png")
        crops.append(folder / f"crop_{i}.png")
        photo.save(photos[-1])
        crop.save(crops[-1])
    n = args.images
    full = rate(n, lambda: model.score(processor, [str(p) for p in photos], batch_size=args.batch))
    cropped = rate(n, lambda: model.score(processor, [str(p) for p in crops], batch_size=args.batch,
                                          crop_faces=False))
    detector = get_detector("mtcnn")
    detect = rate(8, lambda: [detector.detect(photo) for _ in range(8)])
    pixels = copy.deepcopy(processor).image_processor([crop] * args.batch, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        tower = rate(args.batch, lambda: model.model.vision_tower(pixel_values=pixels))
    rows = [
        ("(a) `score`, 512 px photos, face crop on (decode + MTCNN + crop + preprocess + forward)", full),
        ("(b) `score`, 224 px crops, `crop_faces=False` (decode + preprocess + forward)", cropped),
        ("(c) MTCNN detection alone, 512 px photo", detect),
        ("(d) vision tower alone, fp32 forward at 224 px", tower),
    ]
    table = "| What | images/s |\n|---|---|\n" + "\n".join(f"| {name} | {value:.2f} |" for name, value in rows)
    body = (
        f"`python bench/bench_predict.py --batch {args.batch} --images {args.images}`; {machine_line()}. "
        "Demo-size model (benchlib.small_config, random weights), batch "
        f"{args.batch}.\n\n{table}\n\nRatio (b)/(d) = {cropped / tower:.2f} (the issue's target: >= 1, i.e. >= 15 "
        "images/s with a tower at 14 images/s). No speed-up is applied yet: these are the figures before."
    )
    text = section("Prediction speed: face crop and score (demo-size model, CPU)", body)
    print(text)
    if not args.no_write:
        write_section(text)
    return text


if __name__ == "__main__":
    main()
