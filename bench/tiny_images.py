"""Deterministic face-like test images for the benchmarks (an ellipse face on a background, no files)."""

import numpy as np
from PIL import Image, ImageDraw


def face_like_images(n: int, size: int = 256) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(n):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(image)
        draw.ellipse((size * 0.25, size * 0.15, size * 0.75, size * 0.85), fill=(224, 172, 140))
        for x in (0.4, 0.6):
            draw.ellipse((size * (x - 0.04), size * 0.4, size * (x + 0.04), size * 0.45), fill=(40, 30, 30))
        images.append(image)
    return images
