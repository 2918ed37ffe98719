"""Faces in images that are face crops already: MTCNN alone against MTCNN with the padded-canvas retry
(`faces_ifas.MtcnnDetector.detect`), and false faces on face-free images.

    .venv/bin/python bench/bench_tight_crops.py [--per_domain 30] [--no-write]

Tight crops, made by the builders' rule (`faces_ifas.square_crop`: a square of side scale x max(box w, h) around
the MTCNN box of the full frame, resized): the two bundled photos (scikit-image astronaut, matplotlib grace_hopper),
each at scales 1.0, 1.1, 1.2, 1.3, six sizes from 64 to 400 px and mirrored (96 crops), and SynthFAS frames of the
four domains, live and attacks (`--per_domain` each; one crop per frame, scale and size cycling through the same
values). Also, for information, crops tighter than the rule (scale 0.6-0.9) of the same images. Face-free: the
non-face images bundled with scikit-image (scenes, textures, microscopy, text) at two sizes, tiles of them,
gradients, flat colours and noise. A face counts as found when `detect` returns a box of probability >= 0.9.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line, section, write_section  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from faces_ifas import MtcnnDetector, square_crop  # noqa: E402

SCALES = (1.0, 1.1, 1.2, 1.3)
TIGHTER = (0.6, 0.7, 0.8, 0.9)
SIZES = (64, 96, 128, 192, 256, 400)
FACE_FREE_SCENES = ("coffee", "rocket", "coins", "moon", "page", "text", "horse", "hubble_deep_field",
                    "immunohistochemistry", "brick", "grass", "gravel", "checkerboard", "clock", "logo", "colorwheel",
                    "retina", "cell", "shepp_logan_phantom", "microaneurysms")


def bundled_photos() -> list[Image.Image]:
    from matplotlib import cbook
    from skimage import data

    return [Image.fromarray(data.astronaut()), Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")]


def synthfas_frames(per_domain: int) -> list[Image.Image]:
    from datasets_scripts.synthfas import iter_records

    return [Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
            for row in iter_records(per_domain=per_domain, size=256, seed=7)]


def tight_crops(detector: MtcnnDetector, per_domain: int) -> tuple[dict[str, list[Image.Image]], int]:
    """Crop groups by source and scale range, and the number of SynthFAS frames without a face (no crop)."""
    groups = {"bundled photos, scale 1.0-1.3": [], "SynthFAS, scale 1.0-1.3": [], "all, scale 0.6-0.9": []}
    for photo in bundled_photos():
        box = detector(photo)
        for mirrored in (False, True):
            source = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else photo
            x1, y1, x2, y2 = box
            source_box = (photo.width - x2, y1, photo.width - x1, y2) if mirrored else box
            groups["bundled photos, scale 1.0-1.3"] += [square_crop(source, source_box, scale, size)
                                                        for scale in SCALES for size in SIZES]
            groups["all, scale 0.6-0.9"] += [square_crop(source, source_box, scale, 128) for scale in TIGHTER]
    missing = 0
    for i, frame in enumerate(synthfas_frames(per_domain)):
        box = detector(frame)
        if box is None:
            missing += 1
            continue
        groups["SynthFAS, scale 1.0-1.3"].append(square_crop(frame, box, SCALES[i % 4], SIZES[i % len(SIZES)]))
        if i % 4 == 0:
            groups["all, scale 0.6-0.9"].append(square_crop(frame, box, TIGHTER[(i // 4) % 4], SIZES[i % len(SIZES)]))
    return groups, missing


def face_free_images() -> list[Image.Image]:
    from skimage import data

    images = []
    for name in FACE_FREE_SCENES:
        array = getattr(data, name)()
        image = Image.fromarray(array if array.dtype == np.uint8 else (array * 255).astype(np.uint8)).convert("RGB")
        images += [image.resize((96, 96)), image.resize((320, round(320 * image.height / image.width)))]
        images.append(image.crop((0, 0, min(image.size) // 2, min(image.size) // 2)))  # a tile
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 200)
    for size in (64, 200):
        images.append(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)))  # uniform noise
        images.append(Image.fromarray(np.clip(rng.normal(128, 40, (size, size, 3)), 0, 255).astype(np.uint8)))
    images.append(Image.fromarray(np.stack([np.tile(ramp, (200, 1))] * 3, -1).astype(np.uint8)))  # horizontal ramp
    images.append(Image.fromarray(np.stack([np.tile(ramp[:, None], (1, 200))] * 3, -1).astype(np.uint8)))
    radius = np.hypot(*np.meshgrid(np.linspace(-1, 1, 200), np.linspace(-1, 1, 200)))
    images.append(Image.fromarray((np.clip(1 - radius, 0, 1)[..., None] * [255, 180, 120]).astype(np.uint8)))
    images += [Image.new("RGB", (150, 150), colour) for colour in ((0, 0, 0), (255, 255, 255), (200, 160, 130))]
    return images


def found(detector: MtcnnDetector, images: list[Image.Image]) -> tuple[int, int, float, float]:
    """(found by MTCNN alone, found with the retry, seconds per image alone, seconds per image with the retry)."""
    start = time.perf_counter()
    alone = sum(bool(detector._detect(image.convert("RGB"))) for image in images)
    middle = time.perf_counter()
    retried = sum(bool(detector.detect(image)) for image in images)
    end = time.perf_counter()
    return alone, retried, (middle - start) / len(images), (end - middle) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per_domain", type=int, default=30, help="SynthFAS frames per capture domain")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    detector = MtcnnDetector()
    groups, missing = tight_crops(detector, args.per_domain)
    rows = ["| images | n | no face, MTCNN alone | no face, with the retry | ms/image alone | with the retry |",
            "|---|---|---|---|---|---|"]
    total = {"n": 0, "alone": 0, "retried": 0}
    for name, images in groups.items():
        alone, retried, t_alone, t_retry = found(detector, images)
        rows.append(f"| tight crops: {name} | {len(images)} | {len(images) - alone} ({(1 - alone / len(images)):.1%})"
                    f" | {len(images) - retried} ({(1 - retried / len(images)):.1%}) | {1000 * t_alone:.0f} |"
                    f" {1000 * t_retry:.0f} |")
        if "1.0-1.3" in name:
            total = {"n": total["n"] + len(images), "alone": total["alone"] + alone,
                     "retried": total["retried"] + retried}
    n, alone, retried = total["n"], total["alone"], total["retried"]
    rows.append(f"| **tight crops, scale 1.0-1.3, all** | {n} | {n - alone} ({(1 - alone / n):.1%}) | "
                f"**{n - retried} ({(1 - retried / n):.1%})** | | |")
    free = face_free_images()
    alone, retried, t_alone, t_retry = found(detector, free)
    rows.append(f"| face-free (false faces) | {len(free)} | {alone} false faces | {retried} false faces |"
                f" {1000 * t_alone:.0f} | {1000 * t_retry:.0f} |")
    body = (
        f"`.venv/bin/python bench/bench_tight_crops.py --per_domain {args.per_domain}` ({machine_line()}).\n\n"
        + "\n".join(rows)
        + f"\n\n{__doc__.split(chr(10) + chr(10), 2)[2].strip()} SynthFAS frames without a face in the full frame "
        f"(so no crop): {missing}. The retry (`faces_ifas.padded_canvas`: edge pixels repeated by a quarter of "
        "the longest side, small images enlarged to 48 px) runs only when MTCNN alone finds nothing, so it costs "
        "time on face-free images and none on images with a face."
    )
    text = section("Faces in tight crops", body)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
