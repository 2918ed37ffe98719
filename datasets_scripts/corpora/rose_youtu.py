"""ROSE-Youtu: `<subject>/<L>_<T|NT>_<device>_<g|wg>_E_<subject>_<index>.mp4` + same-stem `.face`.

Path rule: the first name field L gives the label, `G` (genuine) live, every other code spoof:
Ps (still print) and Pq (quivering print) -> print; Vl (video on Lenovo) and Vm (video on Mac) -> replay;
Mc (paper mask, cropped), Mf (full), Mu (upper part) and Ml (lower) -> mask; attack_detail = the code (e.g. "Mc").
The subject field must match the trailing number of its folder (`16/` or `rose-youtu_16/`), else the file is skipped.
Split: no official list in public code, so the documented subject ids 2-23 are split in halves by
`datasets_scripts.subject_split.ranked_split("rose_youtu", <subject>, 2..23)` (seed 0; test = 2, 3, 4, 6, 7, 10,
16, 19, 20, 21, 23; subject-disjoint); a subject outside 2-23 is skipped.
The 10-subject "client" image release (`client/rgb/...jpg` + lists) is not handled.
Boxes: `.face` lines `frame,x1,y1,x2,y2` (`frame_xyxy`), else the detector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource
from datasets_scripts.subject_split import ranked_split

NAME = "rose_youtu"
TITLE = "ROSE-Youtu"
SPLITS = ("train", "test")
CODES = {"G": "none", "Ps": "print", "Pq": "print", "Vl": "replay", "Vm": "replay",
         "Mc": "mask", "Mf": "mask", "Mu": "mask", "Ml": "mask"}
VIDEO_NAME = re.compile(r"^([A-Z][a-z]?)_(T|NT)_([A-Za-z0-9]+)_(g|wg)_E_(\d+)_(\d+)$")
FOLDER_SUBJECT = re.compile(r"(\d+)$")
SUBJECTS = tuple(str(i) for i in range(2, 24))


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per ROSE-Youtu video under `root` and a Skip for each .mp4 it cannot place."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus root is not a folder (expected ROSE-Youtu <subject>/<code>_..._E_<subject>_<n>.mp4)")
    for path in walk_files(root, (".mp4",)):
        relative = path.relative_to(root)
        match = VIDEO_NAME.match(path.stem)
        if match is None or match.group(1) not in CODES:
            yield Skip(relative.as_posix(), "not <code>_<T|NT>_<device>_<g|wg>_E_<subject>_<n>.mp4 with a known code")
            continue
        code, subject = match.group(1), str(int(match.group(5)))
        folder = FOLDER_SUBJECT.search(path.parent.name) if path.parent != root else None
        if folder is None or str(int(folder.group(1))) != subject:
            yield Skip(relative.as_posix(), f"folder {path.parent.name!r} is not the name's subject {subject}")
            continue
        if subject not in SUBJECTS:
            yield Skip(relative.as_posix(), f"subject {subject} is outside the documented ids 2-23")
            continue
        attack_type = CODES[code]
        face = path.with_suffix(".face")
        yield MediaItem(
            path=path,
            split=ranked_split(NAME, subject, SUBJECTS),
            subject=subject,
            label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
            attack_type=attack_type,
            attack_detail="" if attack_type == "none" else code,
            video_id=relative.with_suffix("").as_posix(),
            boxes=BoxSource(face, "frame_xyxy") if face.is_file() else None,
        )
