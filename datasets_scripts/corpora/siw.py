"""SiW (Spoof-in-the-Wild): `SiW/{Train,Test}/{live,spoof}/<SSS>/<SSS>-<sensor>-<type>-<medium>-<session>.{mov,mp4}`.

Path rule (bob.db.siw common.py): type 1 live, 2 print, 3 replay; the `live`/`spoof` folder must agree with the
type and the subject folder with SSS, else the file is skipped. attack_detail = "<print|replay>_medium<m>", with
the replay device named for medium 1-4 (1 iPad Pro, 2 iPhone 7, 3 Galaxy S8, 4 Asus monitor), e.g.
"replay_medium2_iphone7"; print media are not named in public code, so only their id is kept.
Split: folder Train (90 subjects) -> train, Test (75) -> test; no dev. Subject = int(SSS).
CASIA-FAS-Dataset's `SiW/protocol/*` lists (1 = live there) are NOT read.
Boxes: same-stem `.face` beside the video, one `x1 y1 x2 y2` line per frame (`line_xyxy`), else the detector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

NAME = "siw"
TITLE = "SiW"
SPLITS = ("train", "test")
SPLIT_FOLDERS = {"Train": "train", "Test": "test"}
VIDEO_NAME = re.compile(r"^(\d{3})-(\d+)-([123])-(\d+)-(\d+)$")
TYPES = {"1": ("none", "live"), "2": ("print", "spoof"), "3": ("replay", "spoof")}
REPLAY_DEVICES = {"1": "ipad_pro", "2": "iphone7", "3": "galaxy_s8", "4": "asus_monitor"}


def parse_video(folders: tuple[str, ...], stem: str) -> tuple[str, str, str] | str:
    """(subject, attack_type, attack_detail) from `<live|spoof>/<SSS>` and the file stem, or why not."""
    match = VIDEO_NAME.match(stem)
    if match is None or len(folders) != 2:
        return "not <live|spoof>/<SSS>/<SSS>-<sensor>-<type>-<medium>-<session>.mov"
    subject, _, type_id, medium, _ = match.groups()
    attack_type, folder = TYPES[type_id]
    if folders[0] != folder:
        return f"folder {folders[0]!r} disagrees with type {type_id} in the name (expects {folder!r})"
    if folders[1] != subject:
        return f"subject folder {folders[1]!r} disagrees with the name's subject {subject!r}"
    if attack_type == "none":
        return subject, attack_type, ""
    detail = f"{attack_type}_medium{medium}"
    if attack_type == "replay" and medium in REPLAY_DEVICES:
        detail += f"_{REPLAY_DEVICES[medium]}"
    return subject, attack_type, detail


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per SiW video under `root` and a Skip for each video it cannot place."""
    root = find_root(root, tuple(SPLIT_FOLDERS), "SiW ({Train,Test}/{live,spoof}/<SSS>/<SSS>-*.mov)")
    for folder, split in SPLIT_FOLDERS.items():
        for path in walk_files(root / folder, (".mov", ".mp4")):
            relative = path.relative_to(root)
            parsed = parse_video(relative.parts[1:-1], path.stem)
            if isinstance(parsed, str):
                yield Skip(relative.as_posix(), parsed)
                continue
            subject, attack_type, detail = parsed
            face = path.with_suffix(".face")
            yield MediaItem(
                path=path,
                split=split,
                subject=str(int(subject)),
                label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
                attack_type=attack_type,
                attack_detail=detail,
                video_id=relative.with_suffix("").as_posix(),
                boxes=BoxSource(face, "line_xyxy") if face.is_file() else None,
            )
