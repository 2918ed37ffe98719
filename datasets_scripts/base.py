"""What every corpus module yields, and the per-item build stage (decode, box, crop, encode, checkpoint).

A corpus module (see `datasets_scripts.corpora`) walks a raw tree and yields `MediaItem`s (one video, or one image
for CelebA-Spoof) whose label and attack type come from the corpus's path rule, and `Skip`s for files it cannot
place. `process_item` turns one item into face crops plus a JSON checkpoint in the split's shard folder:
`<work>/shards/<split>/<key>.json` is written last and atomically, so an item counts as done exactly when its JSON
exists; `iter_rows` reads finished checkpoints back as contract rows.

Example (one item by hand):
    >>> item = MediaItem(path=Path("v.avi"), split="train", subject="1", label=0, attack_type="none", video_id="1/v")
    >>> item_key(item.video_id)[:4]
    '1_v-'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from datasets_scripts.contract import check_record, make_record
from datasets_scripts.faces import BoxSource, MtcnnDetector, box_for_frame, read_boxes, square_crop
from datasets_scripts.media_sources import iter_media_frames
from image_io_ifas import load_image

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG"}
DETECTORS = ("mtcnn", "none")


@dataclass(frozen=True)
class MediaItem:
    """One video (file, frame folder or HDF5 container; or a still image when `is_video` is False) of a corpus,
    with everything the path rule says about it. `face_crop`: the frames are already face crops (HiFiMask,
    3DMask, WMCA preprocessed releases): the whole frame is the box, squared at scale 1.0."""

    path: Path
    split: str
    subject: str
    label: int
    attack_type: str
    video_id: str
    attack_detail: str = ""
    boxes: BoxSource | None = None
    is_video: bool = True
    face_crop: bool = False

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"{self.path}: split {self.split!r} is not one of {SPLITS}")
        check_record({"label": self.label, "attack_type": self.attack_type}, where=str(self.path))


@dataclass(frozen=True)
class Skip:
    """A raw file the corpus module could not place, with the reason (goes into the build report)."""

    path: str
    reason: str


@dataclass(frozen=True)
class BuildSettings:
    """How frames become crops; stored with a build so a resumed build cannot mix settings."""

    frames: str = "flip"
    scale: float = 1.3
    size: int = 224
    image_format: str = "png"
    detector: str = "mtcnn"

    def __post_init__(self):
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format {self.image_format!r} is not one of {tuple(IMAGE_FORMATS)}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector {self.detector!r} is not one of {DETECTORS}")

    def to_dict(self) -> dict:
        return asdict(self)


def find_root(root: str | Path, markers: tuple[str, ...], layout: str) -> Path:
    """Return `root`, or its only sub-folder, that contains every name in `markers`; else raise naming `layout`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus root is not a folder (expected {layout})")
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for candidate in candidates:
        if all((candidate / marker).exists() for marker in markers):
            return candidate
    raise FileNotFoundError(f"{root}: does not look like {layout}; expected {', '.join(markers)} in it or in one sub-folder")


def walk_files(folder: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files under `folder` ending with one of `suffixes` (case-insensitive), sorted; broken links included."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(suffixes):
                yield Path(dirpath) / name


def item_key(video_id: str) -> str:
    """A file-name-safe, unique, stable key for a video id."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", video_id).strip("_")[-80:]
    return f"{readable}-{hashlib.sha1(video_id.encode()).hexdigest()[:10]}"


def checkpoint_path(work: Path, item: MediaItem) -> Path:
    return Path(work) / "shards" / item.split / f"{item_key(item.video_id)}.json"


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _frames(item: MediaItem, frames: str) -> Iterator[tuple[int, Image.Image]]:
    if not item.path.exists():
        raise FileNotFoundError(f"{item.path}: missing file")
    if item.is_video:
        yield from iter_media_frames(item.path, frames)
        return
    yield 0, load_image(item.path)


def _corpus_boxes(item: MediaItem, image_size: tuple[int, int]) -> dict:
    if item.boxes is None:
        return {}
    try:
        return read_boxes(item.boxes, image_size)
    except (OSError, ValueError) as error:
        logger.warning("%s: box file unusable, using the detector instead: %s", item.video_id, error)
        return {}


_DETECTORS: dict[str, MtcnnDetector] = {}


def _detector(name: str):
    if name == "none":
        return None
    if name not in _DETECTORS:
        _DETECTORS[name] = MtcnnDetector()
    return _DETECTORS[name]


def _crop_frames(item: MediaItem, settings: BuildSettings, shard_dir: Path, outcome: dict) -> None:
    """Crop each sampled frame's face into `shard_dir`, listing rows and no-face frames in `outcome`."""
    boxes, detector = None, _detector(settings.detector)
    extension = settings.image_format.replace("jpeg", "jpg")
    for index, image in _frames(item, settings.frames):
        if boxes is None:
            boxes = _corpus_boxes(item, image.size)
        if item.face_crop:
            box, source = (0.0, 0.0, float(image.width), float(image.height)), "face_crop"
        else:
            box, source = box_for_frame(boxes, index, image.size), "corpus"
        if box is None and detector is not None:
            box, source = detector(image), "detector"
        if box is None:
            logger.warning("%s: no face in frame %d, frame skipped", item.video_id, index)
            outcome["no_face_frames"].append(index)
            continue
        file_name = f"{item_key(item.video_id)}_f{index:05d}.{extension}"
        crop = square_crop(image, box, 1.0 if item.face_crop else settings.scale, settings.size)
        crop.save(shard_dir / file_name, format=IMAGE_FORMATS[settings.image_format])
        outcome["rows"].append({"frame_index": index, "file": file_name, "box_source": source})


def process_item(item: MediaItem, settings: BuildSettings, work: Path) -> dict:
    """Crop the faces of `item`'s sampled frames into `work`'s shard folder and write its JSON checkpoint.

    Never raises for bad media: a missing file, or any error while reading or cropping it (corrupt data, a
    decompression bomb, an unreadable box file...), becomes `skip_reason` (and no rows), a frame without a face is
    listed in `no_face_frames`. Frames are decoded one at a time. Returns the checkpoint's content.
    """
    checkpoint = checkpoint_path(work, item)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    outcome = {
        "video_id": item.video_id,
        "split": item.split,
        "subject": item.subject,
        "label": item.label,
        "attack_type": item.attack_type,
        "attack_detail": item.attack_detail,
        "rows": [],
        "no_face_frames": [],
        "skip_reason": None,
    }
    try:
        _crop_frames(item, settings, checkpoint.parent, outcome)
    except FileNotFoundError:
        outcome["skip_reason"] = "missing file"
    except Exception as error:  # noqa: BLE001 - one bad file must never stop a corpus build; it goes to the report
        outcome["skip_reason"] = f"cannot decode: {type(error).__name__}: {error}"
    if outcome["skip_reason"]:
        logger.warning("%s: skipped (%s)", item.video_id, outcome["skip_reason"])
        for row in outcome["rows"]:
            (checkpoint.parent / row["file"]).unlink(missing_ok=True)
        outcome["rows"], outcome["no_face_frames"] = [], []
    _write_json_atomic(checkpoint, outcome)
    return outcome


def read_checkpoints(split_dir: Path) -> Iterator[dict]:
    """The finished checkpoints of one split folder, in a stable order."""
    for path in sorted(Path(split_dir).glob("*.json")):
        yield json.loads(path.read_text())


def _image_name(outcome: dict, row: dict) -> str:
    return f"{outcome['video_id']}_frame{row['frame_index']}{Path(row['file']).suffix}"


def iter_rows(split_dir: str, dataset: str) -> Iterator[dict]:
    """Contract rows (through `make_record`) from the finished checkpoints of one split folder."""
    split_dir = Path(split_dir)
    for outcome in read_checkpoints(split_dir):
        for row in outcome["rows"]:
            yield make_record(
                image={"bytes": (split_dir / row["file"]).read_bytes(), "path": _image_name(outcome, row)},
                label=outcome["label"],
                attack_type=outcome["attack_type"],
                attack_detail=outcome["attack_detail"],
                dataset=dataset,
                split=outcome["split"],
                subject=outcome["subject"],
                video_id=outcome["video_id"],
                frame_index=row["frame_index"],
            )
