"""Time and peak memory of judging one 50-megapixel photo (the largest `load_image` accepts), in a fresh process.

    .venv/bin/python bench/bench_large_photo.py [--checkpoint outputs/demo/checkpoint] [--no-write]

The photo is scikit-image's astronaut scaled to 8660 x 5773 (50.0 M pixels) with mild noise, saved as a JPEG
(quality 90) and as a PNG. Each run is a fresh Python process that loads the checkpoint, then calls
`model.judge(processor, [path], max_new_tokens=16)` once: strict decoding (at reduced size for images above
`image_io_ifas.DECODE_MAX_PIXELS`), MTCNN face detection, the 224 px crop, scoring and a short explanation. Reported:
the wall time of the `judge` call and the process's peak RSS (VmHWM), and the same for a 640 x 480 photo of the same
face as the baseline. The checkpoint must have a face crop (`face_crop` in its processor config); without one given,
a tiny random checkpoint with the default face crop is written to a temporary folder (the decoder and detector cost
the same; the model part is then negligible).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, write_section  # noqa: E402

SIZE = (8660, 5773)
CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from benchlib import proc_status_mib
from ifas.evaluation import load_model
model, processor = load_model({checkpoint!r}, "cpu", "float32")
base = proc_status_mib("VmRSS")
start = time.perf_counter()
answer = model.judge(processor, [{path!r}], max_new_tokens=16)[0]
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_mib": proc_status_mib("VmHWM"), "loaded_mib": base,
                  "face_box": answer["face_box"], "error": answer["error"]}}))
"""


def photo(size: tuple[int, int]) -> Image.Image:
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BILINEAR)
    noise = np.random.default_rng(0).integers(-6, 7, (size[1], size[0], 3), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(face, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def run_child(checkpoint: str, path: Path) -> dict:
    code = CHILD.format(root=str(Path(__file__).resolve().parent), checkpoint=checkpoint, path=str(path))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def tiny_face_crop_checkpoint(folder: Path) -> str:
    from faces_ifas import DEFAULT_FACE_CROP
    from ifas.model_builders import save_checkpoint, tiny_ifas

    model, processor = tiny_ifas("dinov2")
    processor.face_crop = dict(DEFAULT_FACE_CROP)
    return save_checkpoint(model, processor, str(folder))


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="checkpoint folder with a face crop (default: a tiny random one)")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint or tiny_face_crop_checkpoint(tmp / "tiny")
        which = args.checkpoint or "a tiny random checkpoint with the default face crop (MTCNN, 1.3, 224 px)"
        rows = []
        for name, size, fmt in (("640x480 JPEG", (640, 480), "JPEG"), ("50 MP JPEG", SIZE, "JPEG"),
                                ("50 MP PNG", SIZE, "PNG")):
            path = tmp / f"photo_{size[0]}.{fmt.lower()}"
            photo(size).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
            result = run_child(checkpoint, path)
            rows.append(f"| {name} ({path.stat().st_size / 2**20:.1f} MiB) | {result['seconds']:.2f} | "
                        f"{result['peak_mib']:.0f} | {result['loaded_mib']:.0f} | {result['error'] or 'face found'} |")
    body = (f"`model.judge(processor, [path], max_new_tokens=16)` on one photo in a fresh process, checkpoint: "
            f"{which}. Peak RSS = VmHWM of the whole process (model included); loaded = RSS after loading the "
            f"checkpoint, before the call. JPEGs above `DECODE_MAX_PIXELS` are decoded at 1/2 to 1/8 of their size "
            f"by libjpeg's DCT scaling (strict scan check included); PNGs are decoded whole, then reduced.\n\n"
            "| photo | judge time (s) | peak RSS (MiB) | RSS after loading (MiB) | result |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nMachine: {machine_line()}; 1-minute load average {load:.1f} at the start (other jobs "
            f"share the cores: times scale with it, memory does not). Command: `.venv/bin/python bench/bench_large_photo.py"
            f"{' --checkpoint ' + args.checkpoint if args.checkpoint else ''}`.")
    text = section("Large photos (50 MP): time and peak memory", body)
    print(text)
    if not args.no_write:
        write_section(text)
    return text


if __name__ == "__main__":
    main()
