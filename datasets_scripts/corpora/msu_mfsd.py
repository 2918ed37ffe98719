"""MSU-MFSD: `scene01/{real,attack}/*.{mov,mp4}` with `train_sub_list.txt` / `test_sub_list.txt` beside `scene01/`.

Path rule: `real_client<NNN>_<laptop|android>_<SD|HD>_scene01` live,
`attack_client<NNN>_<laptop|android>_<SD|HD>_<printed_photo|ipad_video|iphone_video>_scene01` spoof; the folder
(`real`/`attack`) must agree with the name prefix, else the file is skipped. printed_photo -> print, ipad_video and
iphone_video -> replay; attack_detail = "<kind>_<device>_<quality>" (e.g. "ipad_video_android_HD").
Split: the subject's number in the sub lists (one number per line, e.g. `02`); a subject in neither list is
skipped, one in both is an error. Android .mp4 rotation metadata is honoured by `datasets_scripts.video`.
Boxes: same-stem `.face` (`frame, x1, y1, x2, y2`), used only where they fall inside the upright frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

NAME = "msu_mfsd"
TITLE = "MSU-MFSD"
SPLITS = ("train", "test")
SUB_LISTS = {"train": "train_sub_list.txt", "test": "test_sub_list.txt"}
VIDEO_NAME = re.compile(
    r"^(real|attack)_client(\d{3})_(laptop|android)_(SD|HD)_(?:(printed_photo|ipad_video|iphone_video)_)?scene01$"
)
ATTACK_TYPES = {"printed_photo": "print", "ipad_video": "replay", "iphone_video": "replay"}


def read_subject_list(path: Path) -> set[int]:
    """Subject numbers of an MSU sub list; ValueError naming the file and line when a line is not a number."""
    subjects = set()
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            if not line.strip().isdigit():
                raise ValueError(f"{path}:{line_no}: expected a subject number, got {line.strip()!r}")
            subjects.add(int(line.strip()))
    return subjects


def _split_of_subjects(root: Path) -> dict[int, str]:
    lists = {split: read_subject_list(root / name) for split, name in SUB_LISTS.items()}
    both = lists["train"] & lists["test"]
    if both:
        raise ValueError(f"{root}: subjects {sorted(both)} are in both {SUB_LISTS['train']} and {SUB_LISTS['test']}")
    return {subject: split for split, subjects in lists.items() for subject in subjects}


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per MSU-MFSD video under `root` and a Skip for each video it cannot place."""
    root = find_root(root, ("scene01", *SUB_LISTS.values()), "MSU-MFSD (scene01/{real,attack}/ + *_sub_list.txt)")
    split_of = _split_of_subjects(root)
    for path in walk_files(root / "scene01", (".mov", ".mp4")):
        relative = path.relative_to(root)
        match = VIDEO_NAME.match(path.stem)
        folder = relative.parts[1] if len(relative.parts) == 3 else None
        if match is None or (match.group(1) == "real") != (match.group(5) is None):
            yield Skip(str(relative), "name is not real_client<NNN>_<device>_<SD|HD>_scene01 or attack_client<NNN>_..._<kind>_scene01")
            continue
        if folder != match.group(1):
            yield Skip(str(relative), f"folder {folder!r} disagrees with the name prefix {match.group(1)!r}")
            continue
        subject = int(match.group(2))
        if subject not in split_of:
            yield Skip(str(relative), f"subject {subject} is in neither {SUB_LISTS['train']} nor {SUB_LISTS['test']}")
            continue
        kind = match.group(5)
        attack_type = ATTACK_TYPES[kind] if kind else "none"
        face = path.with_suffix(".face")
        yield MediaItem(
            path=path,
            split=split_of[subject],
            subject=str(subject),
            label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
            attack_type=attack_type,
            attack_detail=f"{kind}_{match.group(3)}_{match.group(4)}" if kind else "",
            video_id=relative.with_suffix("").as_posix(),
            boxes=BoxSource(face, "frame_xyxy") if face.is_file() else None,
        )
