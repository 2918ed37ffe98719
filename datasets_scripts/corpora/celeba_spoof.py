"""CelebA-Spoof: `Data/{train,test}/<subject>/{live,spoof}/<imgid>.{jpg,png}` + `<imgid>_BB.txt`.

Path rule: the `live` / `spoof` folder gives the label. The spoof type comes from
`metas/intra_test/{train,test}_label.json` index 40 when the file is there (0 live, 1 photo, 2 poster, 3 A4 -> print;
4 face mask, 5 upper-body mask, 10 3D mask -> mask; 6 region mask -> partial; 7 PC, 8 pad, 9 phone -> replay;
attack_detail = the type's name); without it a spoof image is attack_type "other", detail "unknown".
The json's own live/spoof flag (index 43, 0 = live) is only compared with the folder: a disagreement is logged
and the folder wins, as does a spoof type that contradicts the folder. Images listed in the json but absent on
disk are reported as skipped, as is an unreadable label json (truncated, not JSON: its split is then read as
without it). Each image is its own "video" (video_id = path without extension, frame_index 0).
Boxes: `<imgid>_BB.txt` (224-space `x y w h score`), else the detector.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

logger = logging.getLogger(__name__)

NAME = "celeba_spoof"
TITLE = "CelebA-Spoof"
SPLITS = ("train", "test")
FOLDER_LABELS = {"live": LABEL_LIVE, "spoof": LABEL_SPOOF}
SPOOF_TYPE_INDEX, LABEL_INDEX = 40, 43
SPOOF_TYPES = {
    1: ("print", "photo"),
    2: ("print", "poster"),
    3: ("print", "a4"),
    4: ("mask", "face_mask"),
    5: ("mask", "upper_body_mask"),
    6: ("partial", "region_mask"),
    7: ("replay", "pc"),
    8: ("replay", "pad"),
    9: ("replay", "phone"),
    10: ("mask", "3d_mask"),
}


def read_label_json(path: Path) -> dict[str, tuple[int, int]]:
    """{"Data/train/.../000001.jpg": (spoof type, live/spoof flag)} from an intra_test label json; `ValueError`
    naming the file when it is not that (truncated, not JSON, wrong shape)."""
    try:
        with open(path, encoding="utf-8") as handle:
            entries = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON label file ({error})") from None
    try:
        return {key: (int(values[SPOOF_TYPE_INDEX]), int(values[LABEL_INDEX])) for key, values in entries.items()}
    except (AttributeError, IndexError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: expected {{image path: [44 ints]}}: {error}") from None


def _attack(relative: str, label: int, meta: tuple[int, int] | None) -> tuple[str, str]:
    if meta is not None and meta[1] != label:
        logger.warning("%s: json live/spoof flag %d disagrees with the folder; folder wins (label %d)", relative, meta[1], label)
    if label == LABEL_LIVE:
        return "none", ""
    if meta is None or meta[0] not in SPOOF_TYPES:
        if meta is not None:
            logger.warning("%s: spoof type %d contradicts the spoof folder; attack type 'other'", relative, meta[0])
        return "other", "unknown"
    return SPOOF_TYPES[meta[0]]


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per CelebA-Spoof image under `root`, and Skips for unplaceable or missing images."""
    root = find_root(root, ("Data",), "CelebA-Spoof (Data/{train,test}/<subject>/{live,spoof}/<imgid>.jpg)")
    for split in SPLITS:
        json_path = root / "metas" / "intra_test" / f"{split}_label.json"
        metas = {}
        if json_path.is_file():
            try:
                metas = read_label_json(json_path)
            except ValueError as error:
                logger.warning("%s; spoof types of %s unknown", error, split)
                yield Skip(json_path.relative_to(root).as_posix(), f"unreadable label file: {error}")
        for path in walk_files(root / "Data" / split, (".jpg", ".jpeg", ".png")):
            relative = path.relative_to(root).as_posix()
            parts = relative.split("/")
            if len(parts) != 5 or parts[3] not in FOLDER_LABELS:
                yield Skip(relative, "not Data/<split>/<subject>/{live,spoof}/<image>")
                continue
            label = FOLDER_LABELS[parts[3]]
            attack_type, detail = _attack(relative, label, metas.pop(relative, None))
            box_file = path.with_name(f"{path.stem}_BB.txt")
            yield MediaItem(
                path=path,
                split=split,
                subject=parts[2],
                label=label,
                attack_type=attack_type,
                attack_detail=detail,
                video_id=relative.rsplit(".", 1)[0],
                boxes=BoxSource(box_file, "celeba_bb") if box_file.is_file() else None,
                is_video=False,
            )
        for listed in sorted(metas):
            yield Skip(listed, f"listed in {json_path.relative_to(root).as_posix()} but missing on disk")
