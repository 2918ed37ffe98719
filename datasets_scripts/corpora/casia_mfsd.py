"""CASIA-MFSD (CASIA-FASD): `CASIA_faceAntisp/{train,test}_release/<subject>/<v>.avi`.

Path rule (bob.db.casia_fasd, SSDG): v in {1, 2, HR_1} live; {3, 4, HR_2} warped photo print; {5, 6, HR_3} cut photo
print (eyes cut out); {7, 8, HR_4} video replay on an iPad. Quality: odd numbers normal, even low, HR_* high;
attack_detail = "<kind>_<quality>" (e.g. "cut_photo_high"), "" for live.
Split: train_release -> train (subjects 1-20), test_release -> test; test folder k is global subject k + 20, so
train and test subjects never collide. No dev split. Boxes: `face-locations/<release>/<subject>/<v>.face`
or `<v>.face` beside the video (`frame x y w h`), else the detector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.faces import BoxSource

NAME = "casia_mfsd"
TITLE = "CASIA-MFSD"
SPLITS = ("train", "test")
RELEASES = {"train_release": ("train", 0), "test_release": ("test", 20)}
QUALITY = {"1": "normal", "2": "low", "HR": "high"}
KINDS = {1: ("none", ""), 2: ("print", "warped_photo"), 3: ("print", "cut_photo"), 4: ("replay", "video")}


def parse_video_name(stem: str) -> tuple[str, str] | None:
    """(attack_type, attack_detail) for a CASIA video stem such as "5" or "HR_3"; None when unknown."""
    if stem.startswith("HR_") and stem[3:] in {"1", "2", "3", "4"}:
        kind, quality = int(stem[3:]), "high"
    elif stem.isdigit() and 1 <= int(stem) <= 8:
        kind, quality = (int(stem) + 1) // 2, "normal" if int(stem) % 2 else "low"
    else:
        return None
    attack_type, detail = KINDS[kind]
    return attack_type, f"{detail}_{quality}" if detail else ""


def _box_source(root: Path, relative: Path) -> BoxSource | None:
    for candidate in (root / "face-locations" / relative, root / relative):
        if candidate.with_suffix(".face").is_file():
            return BoxSource(candidate.with_suffix(".face"), "frame_xywh")
    return None


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per CASIA-MFSD video under `root` and a Skip for each .avi it cannot place."""
    root = find_root(root, tuple(RELEASES), "CASIA-MFSD (CASIA_faceAntisp/{train,test}_release/<subject>/<v>.avi)")
    for release, (split, subject_offset) in RELEASES.items():
        for path in walk_files(root / release, (".avi",)):
            relative = path.relative_to(root)
            if len(relative.parts) != 3 or not relative.parts[1].isdigit():
                yield Skip(str(relative), f"not {release}/<subject number>/<video>.avi")
                continue
            parsed = parse_video_name(path.stem)
            if parsed is None:
                yield Skip(str(relative), f"unknown CASIA-MFSD video name {path.stem!r} (expected 1-8 or HR_1-HR_4)")
                continue
            attack_type, detail = parsed
            yield MediaItem(
                path=path,
                split=split,
                subject=str(int(relative.parts[1]) + subject_offset),
                label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
                attack_type=attack_type,
                attack_detail=detail,
                video_id=relative.with_suffix("").as_posix(),
                boxes=_box_source(root, relative),
            )
