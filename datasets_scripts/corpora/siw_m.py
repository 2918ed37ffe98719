"""SiW-M: `Live/{Train,Test}/Live_<n>.mov`, `Paper/Paper_<n>.mov`, `Replay/Replay_<n>.mov` and
`{Mask,Makeup,Partial}/<Subfolder>/<Prefix>_<n>.mov` (raw paths as listed by gradgpad).

Path rule: top folder `Live` is live, every other top folder is spoof; the file-name prefix must match the folder
(e.g. `Mask/HalfMask/Mask_Half_<n>`), else the file is skipped. attack_type from the top folder: Paper -> print,
Replay -> replay, Mask -> mask, Makeup -> makeup, Partial -> partial; attack_detail = the subfolder
(HalfMask, MannequinHead, PaperMask, SiliconeMask, TransparentMask; Cosmetic, Impersonation, Obfuscation;
FunnyeyeGlasses, PaperGlasses, PaperCut), or "paper" / "replay" for the two flat folders.
Split: SiW-M's protocol is leave-one-attack-out (DTN) with no public split files, and its file names carry no
subject id. Live videos follow their Train/Test folder; every spoof video goes to train or test by
`datasets_scripts.subject_split.seeded_split("siw_m", <video stem>)` (seed 0, half to test). Subject = the video
stem (the identity is unknown), so subject disjointness holds per video only.
Boxes: SiW-M ships none; the detector finds the face.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from datasets_scripts.base import MediaItem, Skip, find_root, walk_files
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.subject_split import seeded_split

NAME = "siw_m"
TITLE = "SiW-M"
SPLITS = ("train", "test")
LIVE_SPLITS = {"Train": "train", "Test": "test"}
FLAT_FOLDERS = {"Paper": ("print", "paper", "Paper"), "Replay": ("replay", "replay", "Replay")}
SUBFOLDERS = {
    "Mask": ("mask", {"HalfMask": ("Half",), "MannequinHead": ("Mann",), "PaperMask": ("Paper",),
                      "SiliconeMask": ("Silicone",), "TransparentMask": ("Trans",)}),
    "Makeup": ("makeup", {"Cosmetic": ("Co",), "Impersonation": ("Im",), "Obfuscation": ("Ob",)}),
    "Partial": ("partial", {"FunnyeyeGlasses": ("Funnyeye",), "PaperGlasses": ("Paperglass",),
                            "PaperCut": ("Eye", "Mouth")}),
}
NUMBERED = re.compile(r"^(.+)_(\d+)$")


def parse_video(parts: tuple[str, ...]) -> tuple[str, str, str] | str:
    """(split or "", attack_type, attack_detail) from a path relative to the root, or why it cannot be placed."""
    match = NUMBERED.match(Path(parts[-1]).stem)
    prefix = match.group(1) if match else None
    top, folders = parts[0], parts[1:-1]
    if top == "Live":
        if len(folders) == 1 and folders[0] in LIVE_SPLITS and prefix == "Live":
            return LIVE_SPLITS[folders[0]], "none", ""
        return "not Live/{Train,Test}/Live_<n>.mov"
    if top in FLAT_FOLDERS:
        attack_type, detail, expected = FLAT_FOLDERS[top]
        if not folders and prefix == expected:
            return "", attack_type, detail
        return f"not {top}/{expected}_<n>.mov"
    if top in SUBFOLDERS:
        attack_type, kinds = SUBFOLDERS[top]
        if len(folders) == 1 and folders[0] in kinds and prefix in {f"{top}_{k}" for k in kinds[folders[0]]}:
            return "", attack_type, folders[0]
        return f"not {top}/<{'|'.join(kinds)}>/{top}_<kind>_<n>.mov with the kind of its folder"
    return f"unknown top folder {top!r} (expected Live, {', '.join([*FLAT_FOLDERS, *SUBFOLDERS])})"


def scan(root: str | Path) -> Iterator[MediaItem | Skip]:
    """Yield one MediaItem per SiW-M video under `root` and a Skip for each video it cannot place."""
    root = find_root(root, ("Live",), "SiW-M (Live/{Train,Test}/, Paper/, Replay/, Mask/, Makeup/, Partial/)")
    for path in walk_files(root, (".mov", ".mp4")):
        relative = path.relative_to(root)
        parsed = parse_video(relative.parts)
        if isinstance(parsed, str):
            yield Skip(relative.as_posix(), parsed)
            continue
        split, attack_type, detail = parsed
        yield MediaItem(
            path=path,
            split=split or seeded_split(NAME, path.stem),
            subject=path.stem,
            label=LABEL_LIVE if attack_type == "none" else LABEL_SPOOF,
            attack_type=attack_type,
            attack_detail=detail,
            video_id=relative.with_suffix("").as_posix(),
        )
