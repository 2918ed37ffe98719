"""Capture-like variations of a few images, for `ifas adapt`: more views of the same 20 captures for the connector
warm start and the LoRA steps, so that they fit the camera and not the captures.

Each copy is drawn with its own seeded `random.Random`: a mirror (half the time), a crop of 85-100 % of the side
resized back, brightness and contrast in [0.75, 1.25], and a JPEG re-encode at quality 70-95, the variations of a
hand-held capture (framing, exposure, compression). No blur and no noise: they would erase the print dots, moiré and
screen texture that tell a spoof. A copy keeps its source's row, with `frame_index` = the copy's number (1, 2, ...).

Example:
    >>> from PIL import Image
    >>> rows = [{"image": Image.new("RGB", (64, 64), "grey"), "frame_index": 0, "video_id": "a.jpg"}]
    >>> copies = augmented_copies(rows, copies=2, seed=0)
    >>> [(c["video_id"], c["frame_index"], c["image"].size) for c in copies]
    [('a.jpg', 1, (64, 64)), ('a.jpg', 2, (64, 64))]
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence

from PIL import Image, ImageEnhance, ImageOps

CROP_SCALE = (0.85, 1.0)
BRIGHTNESS = CONTRAST = (0.75, 1.25)
JPEG_QUALITY = (70, 95)


def capture_variation(image: Image.Image, rng: random.Random) -> Image.Image:
    """One variation of `image` (same size, RGB) drawn from `rng`."""
    image = image.convert("RGB")
    width, height = image.size
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    scale = rng.uniform(*CROP_SCALE)
    crop_width, crop_height = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = rng.randint(0, width - crop_width), rng.randint(0, height - crop_height)
    image = image.crop((left, top, left + crop_width, top + crop_height)).resize((width, height), Image.BICUBIC)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(*BRIGHTNESS))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(*CONTRAST))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=rng.randint(*JPEG_QUALITY))
    return Image.open(io.BytesIO(encoded.getvalue())).convert("RGB")


def augmented_copies(rows: Sequence[dict], copies: int, seed: int = 0) -> list[dict]:
    """`copies` variations of every row's image (see the module docstring), as rows like their source; the same
    `seed` gives the same copies."""
    augmented = []
    for index, row in enumerate(rows):
        for copy in range(1, copies + 1):
            rng = random.Random(f"{seed}:{index}:{copy}")
            augmented.append({**row, "image": capture_variation(row["image"], rng), "frame_index": copy})
    return augmented
