"""WMCA (RGB only), preprocessed release: `preprocessed-face-station_RGB/<date>/<CCC>_<SS>_<PPP>_<T>_<AA>.hdf5`.

Each .hdf5 holds the face-cropped RGB frames of one video (bob FrameContainer; read by
`datasets_scripts.media_sources`). Name: CCC client, SS session, PPP presenter, T type id, AA PAI index within the
type. The CDIT release and the raw videos are not read.
Path rule (type ids and PAI names from the BATL_CONFIG table): T 0 bona fide -> live; attacks ->
- 1 facial disguise: funny-eyes glasses (PAI 1, 4-7), paper glasses (15, 16) and wigs (8-12) -> partial;
  plastic halloween mask (2) and transparent masks (13, 14) -> mask; any other PAI -> other;
- 2 fake face -> mask (mannequin 1-7, papercraft 8-11, rigid custom mask 12-17, flexible silicone 18 and 75-99);
- 3 printed -> print, except the "Electronic" PAIs 5, 10, 15 (photo on a screen) -> replay;
- 4 video -> replay (odd PAI play, even pause); 5 makeup (HQ-WMCA) -> makeup.
attack_detail = "type<T>_pai<AA>_<kind>", e.g. "type2_pai81_silicone_mask"; "" for bona fide. Other T are skipped.
Split: `WMCA_Grandtest.txt` (CSV `,client_id,filepath,group,label`, in the root or one folder below it) gives the
group of `face-station/<date>/<name>`: train -> train, dev -> dev, eval -> test; a file in no row is skipped. Its
`label` column is only compared with T (a disagreement is logged; T wins). Without the CSV, clients are split by
`datasets_scripts.subject_split.seeded_split("wmca", <client>)` (seed 0, half to test; no dev).
Subject = int(CCC). Faces: the frames are face crops (whole frame = face, squared at scale 1.0).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.subject_split import seeded_split

logger = logging.getLogger(__name__)

NAME = "wmca"
TITLE = "WMCA (RGB)"
SPLITS = ("train", "dev", "test")
RGB_FOLDER = "preprocessed-face-station_RGB"
GRANDTEST = "WMCA_Grandtest.txt"
GROUPS = {"train": "train", "dev": "dev", "eval": "test"}
VIDEO_NAME = re.compile(r"^(\d{3})_(\d{2})_(\d{3})_(\d)_(\d+)$")
DISGUISE = {
    **dict.fromkeys((1, 4, 5, 6, 7), ("partial", "funny_eyes_glasses")),
    **dict.fromkeys((15, 16), ("partial", "paper_glasses")),
    **dict.fromkeys((8, 9, 10, 11, 12), ("partial", "wig")),
    2: ("mask", "halloween_mask"),
    **dict.fromkeys((13, 14), ("mask", "transparent_mask")),
}
FAKE_FACE = {
    **dict.fromkeys(range(1, 8), "mannequin"),
    **dict.fromkeys(range(8, 12), "papercraft_mask"),
    **dict.fromkeys(range(12, 18), "rigid_mask"),
    **dict.fromkeys((18, *range(75, 100)), "silicone_mask"),
}
ELECTRONIC_PRINTS = (5, 10, 15)


def attack_of(type_id: int, pai: int) -> tuple[str, str] | None:
    """(attack_type, kind) for a WMCA type id and PAI index; None for an unknown type id."""
    if type_id == 0:
        return "none", ""
    if type_id == 1:
        return DISGUISE.get(pai, ("other", "facial_disguise"))
    if type_id == 2:
        return "mask", FAKE_FACE.get(pai, "fake_face")
    if type_id == 3:
        return ("replay", "electronic_photo") if pai in ELECTRONIC_PRINTS else ("print", "printed_photo")
    if type_id == 4:
        return "replay", "video" if pai == 0 else ("video_play" if pai % 2 else "video_pause")
    if type_id == 5:
        return "makeup", "makeup"
    return None


def read_grandtest(path: Path) -> dict[str, tuple[str, str]]:
    """{"<date>/<name>": (split, csv label)} from a WMCA_Grandtest.txt CSV."""
    rows = {}
    with open(path, newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), 2):
            group, filepath = row.get("group"), row.get("filepath")
            if group not in GROUPS or not filepath:
                raise ValueError(f"{path}:{line_no}: expected filepath and group in {tuple(GROUPS)}, got {row}")
            rows["/".join(Path(filepath).parts[-2:])] = (GROUPS[group], (row.get("label") or "").strip())
    return rows


def _find_grandtest(root: Path) -> Path | None:
    for candidate in [root / GRANDTEST, *sorted(root.glob(f"*/{GRANDTEST}"))]:
        if candidate.is_file():
            return candidate
    return None


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per WMCA RGB .hdf5 under `root` and a Skip for each file it cannot place."""
    root = find_root(root, (RGB_FOLDER,), f"WMCA preprocessed RGB ({RGB_FOLDER}/<date>/<CCC>_<SS>_<PPP>_<T>_<AA>.hdf5)")
    grandtest_path = _find_grandtest(root)
    grandtest = read_grandtest(grandtest_path) if grandtest_path else None
    for path in walk_files(root / RGB_FOLDER, (".hdf5", ".h5")):
        relative = path.relative_to(root / RGB_FOLDER)
        match = VIDEO_NAME.match(path.stem)
        attack = attack_of(int(match.group(4)), int(match.group(5))) if match else None
        if attack is None or len(relative.parts) != 2:
            yield Skip(relative.as_posix(), "not <date>/<CCC>_<SS>_<PPP>_<T>_<AA>.hdf5 with type id 0-5")
            continue
        key = relative.with_suffix("").as_posix()
        if grandtest is not None and key not in grandtest:
            yield Skip(relative.as_posix(), f"not listed in {GRANDTEST}")
            continue
        attack_type, kind = attack
        client = str(int(match.group(1)))
        if grandtest is not None:
            split, csv_label = grandtest[key]
            if csv_label and (csv_label == "attack") != (attack_type != "none"):
                logger.warning("%s: %s says %r but type id %s says otherwise; type id wins", key, GRANDTEST, csv_label, match.group(4))
        else:
            split = seeded_split(NAME, client)
        yield MediaItem(
            path=path,
            split=split,
            subject=client,
            label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
            attack_type=attack_type,
            attack_detail="" if attack_type == "none" else f"type{int(match.group(4))}_pai{int(match.group(5))}_{kind}",
            video_id=key,
            face_crop=True,
        )
