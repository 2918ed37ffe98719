"""`ifas.train.augment`: seeded capture variations that keep the row, the size, and exposure within its range."""

import numpy as np
from PIL import Image

from ifas.train.augment import BRIGHTNESS, augmented_copies


def halves_image() -> Image.Image:
    """Left half black, right half white: a mirror puts the white half on the left."""
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:, 32:] = 255
    return Image.fromarray(pixels)


def test_copies_are_seeded_rows_like_their_source_with_their_number_as_frame_index():
    rows = [{"image": halves_image(), "frame_index": 0, "video_id": "a.jpg", "label": 1},
            {"image": Image.new("RGB", (30, 20), "grey"), "frame_index": 0, "video_id": "b.jpg", "label": 0}]
    copies = augmented_copies(rows, copies=3, seed=7)
    assert [(c["video_id"], c["frame_index"], c["label"]) for c in copies] == [
        ("a.jpg", 1, 1), ("a.jpg", 2, 1), ("a.jpg", 3, 1), ("b.jpg", 1, 0), ("b.jpg", 2, 0), ("b.jpg", 3, 0)]
    assert [c["image"].size for c in copies] == [(64, 48)] * 3 + [(30, 20)] * 3
    assert rows[0]["frame_index"] == 0 and rows[0]["image"].size == (64, 48)  # sources untouched
    again = augmented_copies(rows, copies=3, seed=7)
    assert all(np.array_equal(np.asarray(a["image"]), np.asarray(b["image"])) for a, b in zip(copies, again))
    other = augmented_copies(rows, copies=3, seed=8)
    assert not np.array_equal(np.asarray(copies[0]["image"]), np.asarray(other[0]["image"]))
    assert augmented_copies(rows, copies=0) == []


def test_exposure_stays_in_its_range_and_half_the_copies_are_mirrored():
    # A uniform grey image: crops and mirrors leave it alone, contrast keeps its mean, so each copy's level divided
    # by the source's is the brightness factor drawn (up to JPEG rounding), which must span its range.
    grey = augmented_copies([{"image": Image.new("RGB", (40, 40), (128, 128, 128))}], copies=40, seed=0)
    ratios = np.array([np.asarray(c["image"], float).mean() / 128 for c in grey])
    assert ratios.min() >= BRIGHTNESS[0] - 0.02 and ratios.max() <= BRIGHTNESS[1] + 0.02
    assert ratios.min() < 0.9 and ratios.max() > 1.1
    halves = augmented_copies([{"image": halves_image()}], copies=40, seed=0)
    mirrored = sum(np.asarray(c["image"])[:, :8].mean() > np.asarray(c["image"])[:, -8:].mean() for c in halves)
    assert 10 <= mirrored <= 30
