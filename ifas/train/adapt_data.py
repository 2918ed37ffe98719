"""A user's own captures for `ifas adapt`: find them, split them into an adaptation part and a check part, and crop
their faces into contract rows.

A capture is one image file. Its *group* is the first sub-folder under the folder it was found in (a person, a
session, a device), or the file itself when it lies directly there; the check part takes whole groups, so the same
person or session never lands on both sides.

Example:
    >>> captures = collect_captures(["my_captures/live"], {"print": ["my_captures/prints"]})  # doctest: +SKIP
    >>> adaptation, check = split_captures(captures, check_fraction=0.3, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets_scripts.contract import ATTACK_TYPES, LABEL_LIVE, LABEL_SPOOF, make_record
from datasets_scripts.scf.template_captioner import template_caption
from ifas.cli.predict import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

# Families a user may name with --spoof FAMILY=PATH: the contract's attack types, and the two kinds of mask.
SPOOF_FAMILIES = {name: (name, "") for name in ATTACK_TYPES if name != "none"}
SPOOF_FAMILIES |= {"paper_mask": ("mask", "paper mask"), "3d_mask": ("mask", "3d mask")}
CAPTION_SOURCE = "adapt_template"


@dataclass(frozen=True)
class Capture:
    """One image file of the user's, with its label, attack family and group (see the module docstring)."""

    path: Path
    label: int
    attack_type: str
    attack_detail: str
    group: str


def _image_files(root: Path) -> list[tuple[Path, str]]:
    """(file, group) for an image file, or every image file under a folder (recursive, sorted)."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    if root.is_file():
        return [(root, str(root))]
    files = []
    for file in sorted(root.rglob("*")):
        if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
            relative = file.relative_to(root)
            files.append((file, str(root / relative.parts[0]) if len(relative.parts) > 1 else str(file)))
        elif file.is_file():
            logger.info("%s: not an image file, left out", file)
    return files


def parse_spoof_arguments(values: Sequence[str]) -> dict[str, list[str]]:
    """`--spoof` values, `FAMILY=PATH` or a bare PATH (family "other"), as {family: [paths]}.

    >>> parse_spoof_arguments(["print=prints", "replay=screens", "misc"])
    {'print': ['prints'], 'replay': ['screens'], 'other': ['misc']}
    """
    spoof: dict[str, list[str]] = {}
    for value in values:
        family, sep, path = value.partition("=")
        if not sep:
            family, path = "other", value
        if family not in SPOOF_FAMILIES:
            raise ValueError(f"--spoof {value!r}: unknown attack family {family!r}; use one of "
                             f"{sorted(SPOOF_FAMILIES)} as FAMILY=PATH, or a bare PATH")
        spoof.setdefault(family, []).append(path)
    return spoof


def _check_no_overlap(live_roots: Sequence[Path], spoof_roots: Sequence[Path]) -> None:
    for live in live_roots:
        for spoof in spoof_roots:
            a, b = live.resolve(), spoof.resolve()
            if a == b or a in b.parents or b in a.parents:
                raise ValueError(f"live path {live} and spoof path {spoof} overlap: a capture would be both live "
                                 "and spoof; give separate folders")


def collect_captures(live: Sequence[str | Path], spoof: Mapping[str, Sequence[str | Path]]) -> list[Capture]:
    """Every image under the live paths and under each attack family's spoof paths (files or folders).

    Raises `ValueError` when a live and a spoof path overlap (one inside the other, or the same), when a family is
    unknown, or when a file would be counted twice; `FileNotFoundError` naming a missing path."""
    spoof_roots = [Path(p) for paths in spoof.values() for p in paths]
    _check_no_overlap([Path(p) for p in live], spoof_roots)
    captures = [Capture(file, LABEL_LIVE, "none", "", group) for root in live for file, group in _image_files(Path(root))]
    for family, roots in spoof.items():
        if family not in SPOOF_FAMILIES:
            raise ValueError(f"unknown attack family {family!r}; use one of {sorted(SPOOF_FAMILIES)}")
        attack_type, detail = SPOOF_FAMILIES[family]
        captures += [Capture(file, LABEL_SPOOF, attack_type, detail, group)
                     for root in roots for file, group in _image_files(Path(root))]
    seen: dict[Path, Capture] = {}
    for capture in captures:
        earlier = seen.setdefault(capture.path.resolve(), capture)
        if earlier is not capture:
            raise ValueError(f"{capture.path} is given twice ({earlier.attack_type} and {capture.attack_type})")
    return captures


def split_captures(captures: Sequence[Capture], check_fraction: float, seed: int = 0
                   ) -> tuple[list[Capture], list[Capture]]:
    """(adaptation, check): about `check_fraction` of each class's groups go to the check part (at least one group
    per class), drawn with `seed`. Raises when a class has fewer than two groups, so that the check part could not
    hold both classes without taking all of that class's captures."""
    if not 0.0 < check_fraction < 1.0:
        raise ValueError(f"check_fraction must be in (0, 1), got {check_fraction}")
    rng = random.Random(seed)
    check_groups = set()
    for label, name in ((LABEL_LIVE, "live"), (LABEL_SPOOF, "spoof")):
        groups = sorted({c.group for c in captures if c.label == label})
        if len(groups) < 2:
            raise ValueError(f"the check part would have no {name} capture: {len(groups)} {name} group(s) "
                             f"(a group is a sub-folder, or a file directly in the folder); add {name} captures")
        count = min(len(groups) - 1, max(1, round(check_fraction * len(groups))))
        check_groups |= set(rng.sample(groups, count))
    adaptation = [c for c in captures if c.group not in check_groups]
    check = [c for c in captures if c.group in check_groups]
    return adaptation, check


def caption_for(capture: Capture, seed: int = 0) -> str:
    """The concise template caption of the capture's family ("Printed photo: ...", "Live face: ..."), so the adapted
    model still explains its answers.

    >>> caption_for(Capture(Path("a.jpg"), 0, "none", "", "a.jpg")).split(":")[0]
    'Live face'
    """
    return template_caption(capture.attack_type, capture.attack_detail, seed=seed, key=str(capture.path),
                            concise=True)


def crop_captures(processor, captures: Sequence[Capture], split: str, seed: int = 0, crop_faces: bool = True
                  ) -> tuple[list[dict], list[dict]]:
    """(contract rows, problems): each capture decoded and cropped with the checkpoint's face rule
    (`processor.detect_faces`; `crop_faces=False` for captures that are face crops already); an unreadable file or
    one without a face is a problem `{path, error}`, not a row."""
    rows, problems = [], []
    for capture in captures:
        face = processor.detect_faces([str(capture.path)], strict=False, crop_faces=crop_faces)[0]
        if face.image is None:
            problems.append({"path": str(capture.path), "error": face.error})
            continue
        rows.append(make_record(
            image=face.image, label=capture.label, attack_type=capture.attack_type,
            attack_detail=capture.attack_detail, dataset="user", split=split, subject=capture.group,
            video_id=str(capture.path), frame_index=0, caption=caption_for(capture, seed),
            caption_source=CAPTION_SOURCE,
        ))
    return rows, problems
