"""OULU-NPU: `{Train,Dev,Test}_files/<P>_<S>_<U>_<F>.avi` with same-stem `.txt` eye positions.

Path rule (bob.db.oulunpu): P phone 1-6, S session 1-3, U user (01-20 train, 21-35 dev, 36-55 test), F access type:
1 live; 2, 3 print (attack_detail "printer_1", "printer_2"); 4, 5 replay ("display_1", "display_2").
Split by folder. `Protocols/` lists (+1 live, negative attack) are NOT read: the label comes from F only.
Boxes from the eye file (`frame, lx, ly, rx, ry`, see `datasets_scripts.faces`), else the detector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

NAME = "oulu_npu"
TITLE = "OULU-NPU"
SPLITS = ("train", "dev", "test")
SPLIT_FOLDERS = {"Train_files": "train", "Dev_files": "dev", "Test_files": "test"}
VIDEO_NAME = re.compile(r"^([1-6])_([1-3])_(\d{2})_([1-5])$")
ACCESS_TYPES = {
    1: ("none", ""),
    2: ("print", "printer_1"),
    3: ("print", "printer_2"),
    4: ("replay", "display_1"),
    5: ("replay", "display_2"),
}


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per OULU-NPU video under `root` and a Skip for each .avi it cannot place."""
    root = find_root(root, tuple(SPLIT_FOLDERS), "OULU-NPU ({Train,Dev,Test}_files/<P>_<S>_<U>_<F>.avi)")
    for folder, split in SPLIT_FOLDERS.items():
        for path in walk_files(root / folder, (".avi",)):
            relative = path.relative_to(root)
            match = VIDEO_NAME.match(path.stem)
            if match is None or len(relative.parts) != 2:
                yield Skip(str(relative), "not <split>_files/<phone>_<session>_<user>_<access>.avi")
                continue
            attack_type, detail = ACCESS_TYPES[int(match.group(4))]
            eyes = path.with_suffix(".txt")
            yield MediaItem(
                path=path,
                split=split,
                subject=str(int(match.group(3))),
                label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
                attack_type=attack_type,
                attack_detail=detail,
                video_id=relative.with_suffix("").as_posix(),
                boxes=BoxSource(eyes, "oulu_eyes") if eyes.is_file() else None,
            )
