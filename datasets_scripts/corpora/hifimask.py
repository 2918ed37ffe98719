"""CASIA-SURF HiFiMask (crop release): `Data/<C>_<SS>_<T>_<Scene>_<Light>_<Sensor>/NNNN.png`, one folder per video.

Path rule (CASIA-FAS-Dataset readme): C complexion 1-3, SS subject, T type: 0 live, 1 transparent, 2 plaster,
3 resin mask (attack_type "mask", attack_detail the material), Scene 1-6, Light 0-6, Sensor 0-8.
Split: protocol 1 when its lists are there (`protocol/CASIA_HiFiMask@p1_video_{train,dev,test}.txt`, lines
`CASIA_HiFiMask/Data/<video> <0|1>`): only the video name of each line is used (its 0/1, 0 = live there, is NOT
read); a video in no list is skipped. Without the lists, subjects are split by
`datasets_scripts.subject_split.seeded_split("hifimask", <subject>)` (seed 0, half to test; no dev).
Faces: the frames are the release's face crops (whole frame = face, squared at scale 1.0).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.subject_split import seeded_split

NAME = "hifimask"
TITLE = "CASIA-SURF HiFiMask"
SPLITS = ("train", "dev", "test")
VIDEO_NAME = re.compile(r"^([1-3])_(\d{2})_([0-3])_([1-6])_([0-6])_([0-8])$")
MATERIALS = {"1": "transparent", "2": "plaster", "3": "resin"}
PROTOCOL_LISTS = {"train": "CASIA_HiFiMask@p1_video_train.txt", "dev": "CASIA_HiFiMask@p1_video_dev.txt",
                  "test": "CASIA_HiFiMask@p1_video_test.txt"}


def read_protocol_splits(folder: Path) -> dict[str, str] | None:
    """{video name: split} from the protocol 1 lists in `folder`, or None when they are not all there."""
    paths = {split: folder / name for split, name in PROTOCOL_LISTS.items()}
    if not all(path.is_file() for path in paths.values()):
        return None
    splits = {}
    for split, path in paths.items():
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            video = Path(line.split()[0]).name
            if splits.setdefault(video, split) != split:
                raise ValueError(f"{path}:{line_no}: {video} is also in the {splits[video]} list")
    return splits


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per HiFiMask video folder under `root` and a Skip for each entry it cannot place."""
    root = find_root(root, ("Data",), "CASIA-SURF HiFiMask (Data/<C>_<SS>_<T>_<Scene>_<Light>_<Sensor>/NNNN.png)")
    protocol = read_protocol_splits(root / "protocol")
    for video in sorted((root / "Data").iterdir()):
        match = VIDEO_NAME.match(video.name)
        if match is None:
            yield Skip(f"Data/{video.name}", "not a <C>_<SS>_<T>_<Scene>_<Light>_<Sensor> video folder")
            continue
        subject, mask_type = str(int(match.group(2))), match.group(3)
        if protocol is not None and video.name not in protocol:
            yield Skip(f"Data/{video.name}", "in none of the protocol 1 lists")
            continue
        yield MediaItem(
            path=video,
            split=protocol[video.name] if protocol is not None else seeded_split(NAME, subject),
            subject=subject,
            label=LABEL_LIVE if mask_type == "0" else LABEL_SPOOF,
            attack_type="none" if mask_type == "0" else "mask",
            attack_detail=MATERIALS.get(mask_type, ""),
            video_id=f"Data/{video.name}",
            face_crop=True,
        )
