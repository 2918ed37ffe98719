"""Face boxes (the corpus's own box files, else facenet-pytorch's MTCNN) and the square face crop.

Boxes are (x1, y1, x2, y2) in pixels of the upright frame. Box files (`BOX_FORMATS`):
- ``frame_xywh``  one line per frame ``frame x y w h`` (CASIA-MFSD, Replay-Attack `.face`), comma or space separated;
- ``frame_xyxy``  ``frame x1 y1 x2 y2`` (MSU-MFSD `.face`);
- ``line_xyxy``   ``x1 y1 x2 y2``, one line per frame from frame 0 (SiW `.face`);
- ``oulu_eyes``   ``frame lx ly rx ry`` eye centres (OULU-NPU `.txt`); with eye distance d and eye midpoint (cx, cy)
  the face box is x = cx ± d, y from cy - 0.8d to cy + 1.6d (the face is about 2d wide, eyes 1/3 from its top);
- ``celeba_bb``   one line ``x y w h score`` in a 224x224 reference frame, scaled by W/224 and H/224 (CelebA-Spoof `_BB.txt`).
A zero or degenerate box (a side under 3 px), or one mostly outside the frame, counts as no box for that frame.

The crop and the detector are those of inference, from `faces_ifas` (one rule for both): a square of side
`scale` x max(box w, h) around the box centre (black where it leaves the frame), resized to `size` (default 1.3
and 224); the detector is facenet-pytorch's MTCNN (largest face; see `faces_ifas` for how it is installed).

Example:
    >>> from PIL import Image
    >>> square_crop(Image.new("RGB", (96, 96)), (30, 20, 60, 60), size=224).size
    (224, 224)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faces_ifas import DEFAULT_SCALE, DEFAULT_SIZE, Box, MtcnnDetector, batched_nms, load_mtcnn, square_crop

__all__ = ["BOX_FORMATS", "DEFAULT_SCALE", "DEFAULT_SIZE", "Box", "BoxSource", "MtcnnDetector", "batched_nms",
           "box_for_frame", "load_mtcnn", "read_boxes", "square_crop", "valid_box"]
BOX_FORMATS = ("frame_xywh", "frame_xyxy", "line_xyxy", "oulu_eyes", "celeba_bb")
MIN_BOX_SIDE = 3.0
MIN_INSIDE_FRACTION = 0.5
MAX_BOX_FRAME_GAP = 2
CELEBA_REFERENCE = 224.0


@dataclass(frozen=True)
class BoxSource:
    """A corpus's own box file for one video or image."""

    path: Path
    format: str

    def __post_init__(self):
        if self.format not in BOX_FORMATS:
            raise ValueError(f"{self.path}: unknown box format {self.format!r}; use one of {BOX_FORMATS}")


def _numbers(path: Path) -> list[list[float]]:
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        if not fields:
            continue
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            raise ValueError(f"{path}:{line_no}: not a line of numbers: {line.strip()!r}") from None
    return rows


def _need_columns(path: Path, rows: list[list[float]], n: int) -> None:
    for row in rows:
        if len(row) < n:
            raise ValueError(f"{path}: expected {n} numbers per line, got {len(row)}: {row}")


def _eyes_to_box(lx: float, ly: float, rx: float, ry: float) -> Box:
    d = ((rx - lx) ** 2 + (ry - ly) ** 2) ** 0.5
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    return (cx - d, cy - 0.8 * d, cx + d, cy + 1.6 * d)


def read_boxes(source: BoxSource, image_size: tuple[int, int]) -> dict[int, Box]:
    """Read `source` into {frame index: box}; `image_size` (W, H) scales CelebA-Spoof's 224-space boxes.

    Raises ValueError naming the file when a line is not numbers or has too few columns.
    """
    path, fmt = Path(source.path), source.format
    rows = _numbers(path)
    if fmt == "celeba_bb":
        _need_columns(path, rows, 4)
        if not rows:
            return {}
        x, y, w, h = rows[0][:4]
        sx, sy = image_size[0] / CELEBA_REFERENCE, image_size[1] / CELEBA_REFERENCE
        return {0: (x * sx, y * sy, (x + w) * sx, (y + h) * sy)}
    if fmt == "line_xyxy":
        _need_columns(path, rows, 4)
        return {frame: tuple(row[:4]) for frame, row in enumerate(rows)}
    _need_columns(path, rows, 5)
    boxes = {}
    for frame, a, b, c, d in (row[:5] for row in rows):
        if fmt == "frame_xywh":
            boxes[int(frame)] = (a, b, a + c, b + d)
        elif fmt == "frame_xyxy":
            boxes[int(frame)] = (a, b, c, d)
        else:
            boxes[int(frame)] = _eyes_to_box(a, b, c, d)
    return boxes


def valid_box(box: Box | None, image_size: tuple[int, int]) -> bool:
    """True when `box` has sides of at least 3 px and at least half of it lies inside the image."""
    if box is None:
        return False
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        return False
    iw = max(0.0, min(x2, image_size[0]) - max(x1, 0.0))
    ih = max(0.0, min(y2, image_size[1]) - max(y1, 0.0))
    return iw * ih >= MIN_INSIDE_FRACTION * w * h


def box_for_frame(boxes: dict[int, Box], index: int, image_size: tuple[int, int]) -> Box | None:
    """The valid box of frame `index`, else of the nearest frame at most 2 frames away, else None."""
    for gap in range(MAX_BOX_FRAME_GAP + 1):
        for candidate in (index - gap, index + gap):
            if valid_box(boxes.get(candidate), image_size):
                return boxes[candidate]
    return None
