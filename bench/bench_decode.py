"""What strict decoding (`image_io_ifas.load_image`) adds per image over a plain Pillow decode, against `score` time.

    .venv/bin/python bench/bench_decode.py [--repeats 15] [--batch 8] [--no-write]

A natural photo (scikit-image's astronaut) at three sizes, encoded as JPEG (quality 90) and PNG in memory.
Plain = `Image.open(...).load()` + RGB conversion (what Pillow alone gives, corrupt JPEG scans included); strict =
`load_image` (libjpeg-turbo strict scan check / PNG CRC check, full decode, EXIF orientation, size checks).
Score = `model.score` per image (batch `--batch`, the 640x480 images) for the small benchmark config
(`benchlib.small_config`: DINOv2 ViT-S/14 shape at 224 px + a 12-layer SmolLM2-width Llama, random weights),
standing in for the demo model (same tower shape, a narrower LM stack than SmolLM2-135M's 30 layers, so its score
time is lower and the ratio pessimistic). Median of `--repeats` runs.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line, section, small_config, write_section  # noqa: E402

SIZES = ((224, 224), (640, 480), (1280, 960))


def median_seconds(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def encoded(size: tuple[int, int], fmt: str) -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    photo = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    photo.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def plain_decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from ifas.model_builders import build_processor, sync_generation_config, train_tiny_tokenizer
    from image_io_ifas import load_image
    from modeling_ifas import IFASForConditionalGeneration

    rows, added = [], {}
    for fmt in ("JPEG", "PNG"):
        for size in SIZES:
            data = encoded(size, fmt)
            plain = median_seconds(args.repeats, lambda: plain_decode(data))
            strict = median_seconds(args.repeats, lambda: load_image(data))
            added[(fmt, size)] = strict - plain
            rows.append(f"| {fmt} {size[0]}x{size[1]} ({len(data) // 1024} KiB) | {1000 * plain:.2f} | "
                        f"{1000 * strict:.2f} | {1000 * (strict - plain):+.2f} |")

    torch.manual_seed(0)
    tokenizer = train_tiny_tokenizer()
    config = small_config()
    processor = build_processor(config, tokenizer)
    model = IFASForConditionalGeneration(config).eval()
    sync_generation_config(model, tokenizer)
    images = [plain_decode(encoded((640, 480), "JPEG"))] * args.batch
    model.score(processor, images[:1])  # warm-up
    score = median_seconds(max(3, args.repeats // 5), lambda: model.score(processor, images, batch_size=args.batch))
    per_image = score / args.batch
    typical = added[("JPEG", (640, 480))]
    worst = max(added.values())
    body = "\n".join([
        f"Command: `.venv/bin/python bench/bench_decode.py --repeats {args.repeats} --batch {args.batch}`. "
        f"Machine: {machine_line()}; 1-minute load average {os.getloadavg()[0]:.1f} at the end (shared cores: the "
        f"added times are noisy, a few ms either way). Median of {args.repeats} decodes per case (in-memory bytes).",
        "",
        "| Image | plain Pillow decode (ms) | strict `load_image` (ms) | added (ms) |",
        "|---|---|---|---|",
        *rows,
        "",
        f"`score` of the small benchmark config (random weights, {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M "
        f"parameters; the demo backbones were not converted here, so this stands in for the demo model, whose 30-layer "
        f"LM is slower): {1000 * per_image:.0f} ms per image (batch {args.batch}, 640x480 JPEG already decoded). "
        f"Strict decoding adds {1000 * typical:.2f} ms per 640x480 JPEG = {100 * typical / per_image:.2f}% of score "
        f"time (target <= 5%); the worst case above (+{1000 * worst:.2f} ms) = {100 * worst / per_image:.2f}%.",
    ])
    print(body)
    if not args.no_write:
        write_section(section("Strict decoding (bench/bench_decode.py)", body))
    return body


if __name__ == "__main__":
    main()
