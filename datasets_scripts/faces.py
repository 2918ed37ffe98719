"""Face boxes (the corpus's own box files, else facenet-pytorch's MTCNN) and the square face crop.

Boxes are (x1, y1, x2, y2) in pixels of the upright frame. Box files (`BOX_FORMATS`):
- ``frame_xywh``  one line per frame ``frame x y w h`` (CASIA-MFSD, Replay-Attack `.face`), comma or space separated;
- ``frame_xyxy``  ``frame x1 y1 x2 y2`` (MSU-MFSD `.face`);
- ``line_xyxy``   ``x1 y1 x2 y2``, one line per frame from frame 0 (SiW `.face`);
- ``oulu_eyes``   ``frame lx ly rx ry`` eye centres (OULU-NPU `.txt`); with eye distance d and eye midpoint (cx, cy)
  the face box is x = cx ± d, y from cy - 0.8d to cy + 1.6d (the face is about 2d wide, eyes 1/3 from its top);
- ``celeba_bb``   one line ``x y w h score`` in a 224x224 reference frame, scaled by W/224 and H/224 (CelebA-Spoof `_BB.txt`).
A zero or degenerate box (a side under 3 px), or one mostly outside the frame, counts as no box for that frame.

The crop is a square of side `scale` x max(box w, h) around the box centre (black where it leaves the frame),
resized to `size` (default 1.3 and 224).

The detector is facenet-pytorch 2.6.0's MTCNN, whose weights ship in its wheel. It is installed with
``pip install --no-deps facenet-pytorch==2.6.0`` (its metadata pins torch<2.3, numpy<2, Pillow<10.3, and it imports
torchvision, which does not load beside the CPU torch). `load_mtcnn` imports it with stub `torchvision` modules
in `sys.modules` whose `ops.boxes.batched_nms` is `batched_nms` below (pure torch); the stubs are removed right
after the import, so torchvision is never imported and later `find_spec("torchvision")` checks are unaffected.
MTCNN's only other torchvision use (`extract_face`'s `to_tensor`) is not called here.

Example:
    >>> from PIL import Image
    >>> square_crop(Image.new("RGB", (96, 96)), (30, 20, 60, 60), size=224).size
    (224, 224)
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

Box = tuple[float, float, float, float]
BOX_FORMATS = ("frame_xywh", "frame_xyxy", "line_xyxy", "oulu_eyes", "celeba_bb")
MIN_BOX_SIDE = 3.0
MIN_INSIDE_FRACTION = 0.5
MAX_BOX_FRAME_GAP = 2
CELEBA_REFERENCE = 224.0
DEFAULT_SCALE = 1.3
DEFAULT_SIZE = 224


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


def square_crop(image: Image.Image, box: Box, scale: float = DEFAULT_SCALE, size: int = DEFAULT_SIZE) -> Image.Image:
    """Crop a square of side `scale` x max(w, h) centred on `box` (black outside the image), resized to `size`."""
    x1, y1, x2, y2 = box
    side = scale * max(x2 - x1, y2 - y1)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    right, bottom = left + round(side), top + round(side)
    return image.convert("RGB").crop((left, top, right, bottom)).resize((size, size), Image.Resampling.BICUBIC)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Pure-torch `torchvision.ops.batched_nms`: indices of kept boxes, by decreasing score, NMS within each idx."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    shifted = boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    order, keep = scores.argsort(descending=True), []
    while order.numel():
        best, rest = order[0], order[1:]
        top_left = torch.maximum(shifted[best, :2], shifted[rest, :2])
        bottom_right = torch.minimum(shifted[best, 2:], shifted[rest, 2:])
        inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
        iou = inter / (areas[best] + areas[rest] - inter)
        keep.append(best)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep)


def load_mtcnn(**kwargs):
    """Import facenet-pytorch's MTCNN without torchvision (see the module docstring) and build it with `kwargs`."""
    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops", "torchvision.ops.boxes")
    stubs = {name: types.ModuleType(name) for name in names}
    stubs["torchvision.transforms"].functional = stubs["torchvision.transforms.functional"]
    stubs["torchvision.ops.boxes"].batched_nms = batched_nms
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(stubs)
    try:
        from facenet_pytorch.models.mtcnn import MTCNN
    except ImportError as error:
        raise ImportError(
            "the face detector needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0"
        ) from error
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return MTCNN(**kwargs)


class MtcnnDetector:
    """Largest face whose MTCNN probability is at least `threshold`; the network loads on first use.

    Example:
        >>> from skimage import data
        >>> box = MtcnnDetector()(Image.fromarray(data.astronaut()))
        >>> [round(v, -1) for v in box]
        [180.0, 60.0, 270.0, 170.0]
    """

    def __init__(self, threshold: float = 0.9, min_face_size: int = 20):
        self.threshold, self.min_face_size, self._mtcnn = threshold, min_face_size, None

    def __call__(self, image: Image.Image) -> Box | None:
        if self._mtcnn is None:
            self._mtcnn = load_mtcnn(min_face_size=self.min_face_size, select_largest=True)
        boxes, probs = self._mtcnn.detect(image.convert("RGB"))
        if boxes is None:
            return None
        for box, prob in zip(boxes, probs):
            if prob is not None and prob >= self.threshold:
                return tuple(float(v) for v in box)
        return None
