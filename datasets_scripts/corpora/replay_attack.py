"""Idiap Replay-Attack: `[replayattack-<split>/]<split>/{real,attack/{fixed,hand}}/*.mov`, split in {train, devel, test}.

Path rule: a `real` folder is live, `attack` is spoof, and the file name must agree:
`client<NNN>_session01_webcam_authenticate_<light>_<k>.mov` (live) and
`attack_<print|highdef|mobile>_client<NNN>_session01_<highdef|mobile>_<photo|video>_<light>.mov` (spoof).
attack_print -> print; attack_highdef (iPad) and attack_mobile (iPhone) -> replay;
attack_detail = "<print|highdef|mobile>_<photo|video>_<fixed|hand>". Split by folder (devel -> dev);
`enroll/` videos are skipped (not part of the protocol). Boxes: `face-locations/` mirroring the tree from the
split folder down (`frame x y w h`), looked for beside the split folder, under the root, then beside the video.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

NAME = "replay_attack"
TITLE = "Idiap Replay-Attack"
SPLITS = ("train", "dev", "test")
SPLIT_FOLDERS = {"train": "train", "devel": "dev", "test": "test"}
REAL_NAME = re.compile(r"^client(\d{3})_session\d+_webcam_authenticate_(controlled|adverse)_\d+$")
ATTACK_NAME = re.compile(
    r"^attack_(print|highdef|mobile)_client(\d{3})_session\d+_(highdef|mobile)_(photo|video)_(controlled|adverse)$"
)


def _box_source(root: Path, split_parent: Path, from_split: Path, path: Path) -> BoxSource | None:
    for candidate in (split_parent / "face-locations" / from_split, root / "face-locations" / from_split, path):
        if candidate.with_suffix(".face").is_file():
            return BoxSource(candidate.with_suffix(".face"), "frame_xywh")
    return None


def _place(relative: Path) -> tuple[int, str] | str:
    """(index of the split folder in `relative`, split) or the reason the path cannot be placed."""
    folders = relative.parts[:-1]
    if "face-locations" in folders:
        return "a video inside face-locations/"
    if "enroll" in folders:
        return "enroll videos are not part of train/devel/test"
    positions = [i for i, part in enumerate(folders) if part in SPLIT_FOLDERS]
    if not positions:
        return "not under a train/, devel/ or test/ folder"
    return positions[-1], SPLIT_FOLDERS[folders[positions[-1]]]


def parse_video(below_split: tuple[str, ...], stem: str) -> tuple[str, str, str] | None:
    """(subject, attack_type, attack_detail) from the folders below the split folder and the file stem."""
    if below_split[:1] == ("real",) and len(below_split) == 2 and (match := REAL_NAME.match(stem)):
        return match.group(1), "none", ""
    match = ATTACK_NAME.match(stem)
    if below_split[:1] == ("attack",) and len(below_split) == 3 and below_split[1] in {"fixed", "hand"} and match:
        instrument, medium = match.group(1), match.group(4)
        attack_type = "print" if instrument == "print" else "replay"
        return match.group(2), attack_type, f"{instrument}_{medium}_{below_split[1]}"
    return None


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per Replay-Attack video under `root` and a Skip for each .mov it cannot place."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus root is not a folder (expected Replay-Attack train/devel/test folders)")
    for path in walk_files(root, (".mov",)):
        relative = path.relative_to(root)
        placed = _place(relative)
        if isinstance(placed, str):
            yield Skip(str(relative), placed)
            continue
        position, split = placed
        from_split = Path(*relative.parts[position:])
        parsed = parse_video(from_split.parts[1:], path.stem)
        if parsed is None:
            yield Skip(str(relative), "not real/client<NNN>_...mov or attack/{fixed,hand}/attack_<kind>_client<NNN>_...mov")
            continue
        subject, attack_type, detail = parsed
        yield MediaItem(
            path=path,
            split=split,
            subject=str(int(subject)),
            label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
            attack_type=attack_type,
            attack_detail=detail,
            video_id=from_split.with_suffix("").as_posix(),
            boxes=_box_source(root, root / Path(*relative.parts[:position]), from_split, path),
        )
