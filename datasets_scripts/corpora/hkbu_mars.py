"""HKBU-MARs V2: `{real,attack}/<SS>/<CC>_<LL>_<SS>.avi` (SS subject 01-12, CC camera 01-07, LL lighting 01-06).

Path rule: the top folder gives the label (`real` live, `attack` spoof = a 3D mask: ThatsMyFace or REAL-f, which
the names do not tell apart; attack_detail "3d_mask"). The name's SS must match its subject folder, else the file
is skipped. CASIA-FAS-Dataset's `HKBUv2/*.txt` (1 = live) and dg_protocol lists (0 = live) are NOT read.
Split: no official split, so the 12 subjects are split in halves by
`datasets_scripts.subject_split.ranked_split("hkbu_mars", <subject>, 1..12)` (seed 0; test = 1, 4, 6, 8, 10, 12;
subject-disjoint); a subject outside 01-12 is skipped.
V1 / V1+: only V2 is built. V1 (`s1/`, `s2/`, `s3/` with `<SS>_<session>_<k>.mp4`) has no documented label rule
(which folders are genuine is unverified) and V1+ has no public layout, so a root without `real/` and `attack/`
is refused with a clear error rather than labelled by guesswork.
Boxes: none ship with the corpus; the detector finds the face.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.subject_split import ranked_split

NAME = "hkbu_mars"
TITLE = "HKBU-MARs V2"
SPLITS = ("train", "test")
FOLDERS = {"real": ("none", ""), "attack": ("mask", "3d_mask")}
VIDEO_NAME = re.compile(r"^(\d{2})_(\d{2})_(\d{2})$")
SUBJECTS = tuple(str(i) for i in range(1, 13))
LAYOUT = (
    "HKBU-MARs V2 ({real,attack}/<SS>/<CC>_<LL>_<SS>.avi); V1 (s1/s2/s3) and V1+ are not supported "
    "because their label rule is not documented"
)


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per HKBU-MARs V2 video under `root` and a Skip for each video it cannot place."""
    root = find_root(root, tuple(FOLDERS), LAYOUT)
    for folder, (attack_type, detail) in FOLDERS.items():
        for path in walk_files(root / folder, (".avi", ".mp4", ".mov")):
            relative = path.relative_to(root)
            match = VIDEO_NAME.match(path.stem)
            if match is None or len(relative.parts) != 3 or relative.parts[1] != match.group(3):
                yield Skip(relative.as_posix(), f"not {folder}/<SS>/<CC>_<LL>_<SS>.avi with SS = its subject folder")
                continue
            subject = str(int(match.group(3)))
            if subject not in SUBJECTS:
                yield Skip(relative.as_posix(), f"subject {subject} is outside 01-12")
                continue
            yield MediaItem(
                path=path,
                split=ranked_split(NAME, subject, SUBJECTS),
                subject=subject,
                label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
                attack_type=attack_type,
                attack_detail=detail,
                video_id=relative.with_suffix("").as_posix(),
            )
