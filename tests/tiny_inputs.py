"""Tiny images generated in code for the tests."""

import numpy as np
from PIL import Image


def random_image(seed: int, size=(20, 24), mode="RGB") -> Image.Image:
    """A noise image of `size` (width, height) in PIL `mode`."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
