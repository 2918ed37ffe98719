"""The face crop of I-FAS, one rule for the dataset builders and for inference: the largest face (MTCNN), a square
of side `scale` x max(box w, h) around its centre (black where it leaves the frame), resized to `size` px.

A checkpoint's processor records the rule its model was trained with as ``face_crop`` (``{"detector": "mtcnn",
"scale": 1.3, "size": 224}``, or None for a model fed whole images); `IFASProcessor` applies it to every image it
prepares. This file ships with the checkpoint's remote code, so it imports only torch, numpy and PIL; the
detector, facenet-pytorch, is imported when first used.

Faces that fill the frame (images that are face crops already) and small images: when MTCNN finds no face in the
image, it looks again on `padded_canvas` (the image with its edge pixels repeated around it by `RETRY_PAD` of its
longest side, enlarged to at least `MIN_CANVAS_SIDE` px), and the boxes found there are mapped back to the
image's pixels (they may reach past its border; the crop is black there, as for any face at the border). An image
of any size, 1 px included, gives boxes or none, never a detector error.

Boxes are (x1, y1, x2, y2) in pixels of the upright image.

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
    >>> find_face(Image.new("RGB", (96, 96)), None).box is None  # cropping off: the whole image goes in
    True
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

Box = tuple[float, float, float, float]
DEFAULT_SCALE = 1.3
DEFAULT_SIZE = 224
DETECTORS = ("mtcnn",)
DEFAULT_FACE_CROP = {"detector": "mtcnn", "scale": DEFAULT_SCALE, "size": DEFAULT_SIZE}
NO_FACE = "no face found"
RETRY_PAD = 0.25  # padded_canvas: edge pixels added on every side, as a fraction of the image's longest side
MIN_CANVAS_SIDE = 48  # padded_canvas: a smaller canvas is enlarged to this shortest side (MTCNN needs >= 20 px)


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
    names = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
             "torchvision.ops.boxes")
    stubs = {name: types.ModuleType(name) for name in names}
    stubs["torchvision.transforms"].functional = stubs["torchvision.transforms.functional"]
    stubs["torchvision.ops.boxes"].batched_nms = batched_nms
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(stubs)
    try:
        from facenet_pytorch.models.mtcnn import MTCNN
    except ImportError as error:
        raise ImportError(
            "the face detector (face_crop detector 'mtcnn') needs facenet-pytorch: "
            "pip install --no-deps facenet-pytorch==2.6.0"
        ) from error
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return MTCNN(**kwargs)


def padded_canvas(image: Image.Image, pad: float = RETRY_PAD, min_side: int = MIN_CANVAS_SIDE):
    """`image` with its edge pixels repeated `pad` x its longest side on every side, enlarged (bicubic) when its
    shortest side is under `min_side`; returns (canvas, margin, factor): image pixel (x, y) is canvas pixel
    ((x + margin) * factor, (y + margin) * factor).

    >>> canvas, margin, factor = padded_canvas(Image.new("RGB", (12, 8)))  # 18 x 14 with the margin, then x 48/14
    >>> canvas.size, margin, round(factor, 3)
    ((62, 48), 3, 3.429)
    """
    margin = round(pad * max(image.size))
    array = np.pad(np.asarray(image.convert("RGB")), ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    canvas = Image.fromarray(array)
    factor = max(1.0, min_side / min(canvas.size))
    if factor > 1.0:
        canvas = canvas.resize((round(canvas.width * factor), round(canvas.height * factor)), Image.Resampling.BICUBIC)
    return canvas, margin, factor


class MtcnnDetector:
    """Faces whose MTCNN probability is at least `threshold`, largest first; the network loads on first use.

    Example:
        >>> from skimage import data
        >>> box = MtcnnDetector()(Image.fromarray(data.astronaut()))
        >>> [round(v, -1) for v in box]
        [180.0, 60.0, 270.0, 170.0]
    """

    def __init__(self, threshold: float = 0.9, min_face_size: int = 20):
        self.threshold, self.min_face_size, self._mtcnn = threshold, min_face_size, None

    def detect(self, image: Image.Image) -> list[Box]:
        """Every face box, largest (by area) first; [] when there is none. No face in the image itself: the boxes
        found on its `padded_canvas`, in the image's pixels (module docstring)."""
        image = image.convert("RGB")
        faces = self._detect(image)
        if not faces:
            canvas, margin, factor = padded_canvas(image)
            faces = [tuple(v / factor - margin for v in box) for box in self._detect(canvas)]
        return sorted(faces, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)

    def _detect(self, image: Image.Image) -> list[Box]:
        """MTCNN's boxes of at least `threshold` probability; [] for an image under `min_face_size` px on a side
        (MTCNN has no pyramid level for it and fails with "torch.cat(): expected a non-empty list")."""
        if min(image.size) < self.min_face_size:
            return []
        if self._mtcnn is None:
            self._mtcnn = load_mtcnn(min_face_size=self.min_face_size, select_largest=True)
        boxes, probs = self._mtcnn.detect(image)
        if boxes is None:
            return []
        return [tuple(float(v) for v in box) for box, prob in zip(boxes, probs)
                if prob is not None and prob >= self.threshold]

    def __call__(self, image: Image.Image) -> Box | None:
        """The largest face box, or None."""
        faces = self.detect(image)
        return faces[0] if faces else None


_DETECTORS: dict[str, MtcnnDetector] = {}


def get_detector(name: str) -> MtcnnDetector:
    """The process-wide detector called `name` (one of `DETECTORS`), built once."""
    if name not in DETECTORS:
        raise ValueError(f"face detector {name!r} is not one of {DETECTORS}")
    if name not in _DETECTORS:
        _DETECTORS[name] = MtcnnDetector()
    return _DETECTORS[name]


def check_face_crop(face_crop: dict | None) -> dict | None:
    """Validate a ``face_crop`` setting (None = off); return it with defaults filled in, or raise ValueError."""
    if face_crop is None:
        return None
    if not isinstance(face_crop, dict):
        raise ValueError(f"face_crop must be a dict like {DEFAULT_FACE_CROP} or None, got {face_crop!r}")
    unknown = sorted(set(face_crop) - set(DEFAULT_FACE_CROP))
    if unknown:
        raise ValueError(f"face_crop: unknown keys {unknown}; expected {sorted(DEFAULT_FACE_CROP)}")
    setting = {**DEFAULT_FACE_CROP, **face_crop}
    if setting["detector"] not in DETECTORS:
        raise ValueError(f"face_crop: detector {setting['detector']!r} is not one of {DETECTORS}")
    if not isinstance(setting["scale"], (int, float)) or not setting["scale"] > 0:
        raise ValueError(f"face_crop: scale must be a positive number, got {setting['scale']!r}")
    if not isinstance(setting["size"], int) or setting["size"] < 1:
        raise ValueError(f"face_crop: size must be a positive integer, got {setting['size']!r}")
    return setting


@dataclass
class Face:
    """What goes into the model for one input: `image` (the crop, the whole image when cropping is off, None when
    no face was found), the face `box` in the input's pixels, `num_faces` found (None when cropping is off) and
    `error` (why there is no image)."""

    image: Image.Image | None
    box: Box | None = None
    num_faces: int | None = None
    error: str | None = None


def find_face(image: Image.Image, face_crop: dict | None, what: str = "image", strict: bool = True) -> Face:
    """Crop the largest face of `image` by the `face_crop` rule (`check_face_crop`); the whole image when it is None.

    No face: ValueError naming `what` when `strict`, else a `Face` with no image and ``error`` "no face found".
    """
    face_crop = check_face_crop(face_crop)
    if face_crop is None:
        return Face(image)
    boxes = get_detector(face_crop["detector"]).detect(image)
    if not boxes:
        if strict:
            raise ValueError(f"{what}: {NO_FACE} (face_crop detector {face_crop['detector']!r})")
        return Face(None, None, 0, NO_FACE)
    crop = square_crop(image, boxes[0], face_crop["scale"], face_crop["size"])
    return Face(crop, boxes[0], len(boxes))
