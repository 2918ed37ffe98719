"""CASIA-SURF 3DMask: `3DMask/Real/<MMDD_SSS>/<n>` (288 videos) and `3DMask/Fake/<MMDD_SSS>/<k>/<n>` (858).

Each video `<n>` is a frame folder (CASIA-FAS-Dataset release: `<n>/NN.png`, or `<n>/crop/` when present) or a
video file `<n>.{mp4,avi,mov}` (an entry whose link target is gone is reported as a missing file). Path rule: the `Real` / `Fake` folder gives the label; Fake = a 3D mask
(attack_type "mask", attack_detail "3d_mask_k<k>"; k in 1-3 is probably the decoration, n the lighting - both
UNVERIFIED, so only k is kept). `CASIA_SURF_3DMask_list.txt` (1 = real, -1 = fake) and `Real.txt`/`Fake.txt`
(1 = live) are NOT read.
Subject = the `<MMDD_SSS>` folder: the 48 folders are the 48 subjects (SSS alone repeats across days).
Split: the corpus has no split (dg_protocol uses the whole set for train, dev and test), so subjects are split by
`datasets_scripts.subject_split.seeded_split("casia_surf_3dmask", <MMDD_SSS>)` (seed 0, half to test).
Faces: frame folders are taken to be the release's face crops (whole frame = face, squared at scale 1.0;
ASSUMED from CASIA-FAS-Benchmark, which feeds these frames to the model uncropped); video files use the detector.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.subject_split import seeded_split

NAME = "casia_surf_3dmask"
TITLE = "CASIA-SURF 3DMask"
SPLITS = ("train", "test")
SUBJECT_FOLDER = re.compile(r"^\d{4}_\d{3}$")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov")
FOLDER_DEPTH = {"Real": 1, "Fake": 2}


def _videos(subject_dir: Path, depth: int) -> Iterator[tuple[tuple[str, ...], Path]]:
    """((folders between the subject folder and the video ..., video name), media path) below `subject_dir`."""
    for entry in sorted(subject_dir.iterdir()):
        if depth > 1 and entry.is_dir():
            for inner, media in _videos(entry, depth - 1):
                yield (entry.name, *inner), media
        elif depth == 1 and (entry.is_dir() or entry.suffix.lower() in VIDEO_SUFFIXES or not entry.exists()):
            crop = entry / "crop"
            yield (entry.stem,), crop if crop.is_dir() else entry


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per 3DMask video under `root` and a Skip for each entry it cannot place."""
    root = find_root(root, tuple(FOLDER_DEPTH), "CASIA-SURF 3DMask (Real/<MMDD_SSS>/<n>, Fake/<MMDD_SSS>/<k>/<n>)")
    for folder, depth in FOLDER_DEPTH.items():
        for subject_dir in sorted(p for p in (root / folder).iterdir() if p.is_dir() or p.is_symlink()):
            if not SUBJECT_FOLDER.match(subject_dir.name) or not subject_dir.is_dir():
                yield Skip(f"{folder}/{subject_dir.name}", f"not a {folder}/<MMDD_SSS> subject folder")
                continue
            for names, media in _videos(subject_dir, depth):
                video_id = "/".join((folder, subject_dir.name, *names))
                if not all(name.isdigit() for name in names):
                    yield Skip(video_id, f"not {folder}/<MMDD_SSS>/{'<k>/' if depth > 1 else ''}<n> with numbers")
                    continue
                spoof = folder == "Fake"
                yield MediaItem(
                    path=media,
                    split=seeded_split(NAME, subject_dir.name),
                    subject=subject_dir.name,
                    label=LABEL_SPOOF if spoof else LABEL_LIVE,
                    attack_type="mask" if spoof else "none",
                    attack_detail=f"3d_mask_k{names[0]}" if spoof else "",
                    video_id=video_id,
                    face_crop=media.is_dir(),
                )
