"""The SCF keyword dictionary K: evidence words and exclusive cues per attack family, and the family of a row.

A *family* groups attacks that share a visual medium, finer than the contract's `attack_type`:
`mask` splits into `paper_mask` and `3d_mask`, and `other` rows are placed by their `attack_detail`.

Each `Family` has
- `keywords`: words or phrases that name the family's medium or cues. A caption of a spoof row must contain at
  least one keyword of its own family; a live caption must contain a live keyword (it names a person, face or skin).
- `cues`: words that only this family's attack (or, for `live`, only a genuine face) explains. A caption that
  affirms a cue of another family contradicts its label (live vs. spoof) or its medium (paper vs. screen vs.
  silicone). A word that several families use ("mask", "paper") is listed by each of them, and a cue counts against
  a family only when that family does not list it (see `caption_filter.wrong_family_cues`). Cues are kept to words
  that cannot describe the other families' attacks (a 3D mask may wear a wig, so "wig" is a partial keyword only).

Matching is case-insensitive, on word boundaries, accepts plural and -ed/-ing forms and hyphen/space variants, and
ignores negated mentions ("no screen glare"); see `matching.py`.

To extend the dictionary, add words to the tuples below (or a `Family` to `FAMILIES` and a rule to `DETAIL_RULES`).

Example:
    >>> family_of("mask", "Mc"), family_of("mask", "silicone"), family_of("other", "paper_glasses")
    ('paper_mask', '3d_mask', 'partial')
    >>> "moire" in FAMILIES["replay"].keywords
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datasets_scripts.contract import ATTACK_TYPES


@dataclass(frozen=True)
class Family:
    """One attack family (or `live`): how prompts and templates describe it, and its words for the filter."""

    name: str
    description: str
    keywords: tuple[str, ...]
    cues: tuple[str, ...]


PRINT_TERMS = (
    "print", "printout", "printer", "printed photo", "printed paper", "paper", "hard copy", "halftone",
    "halftone dot", "dot pattern", "ink", "toner", "paper edge", "crease", "wrinkled paper", "poster", "A4",
)
SCREEN_TERMS = (
    "screen", "display screen", "digital display", "displayed on", "monitor", "tablet", "iPad", "iPhone",
    "smartphone", "phone screen", "laptop", "LCD", "OLED", "moire", "moiré", "bezel", "pixel grid", "backlight",
    "backlit", "scan line", "refresh line", "replay", "replayed", "video replay", "screen glare",
)
PAPER_MASK_TERMS = (
    "paper mask", "papercraft", "cardboard", "cut-out", "cutout", "eye hole", "paper cut-out", "mask",
)
RIGID_MASK_TERMS = (
    "3D mask", "silicone", "latex", "resin", "plaster", "rubber", "mannequin", "rigid mask", "transparent mask",
    "prosthetic", "waxy", "plastic", "mask",
)
MAKEUP_CUES = (
    "face paint", "heavy makeup", "impersonation makeup", "impersonation", "obfuscation makeup", "obfuscation",
    "theatrical makeup", "painted-on", "disguise",
)
PARTIAL_CUES = (
    "paper glasses", "funny-eye glasses", "fake glasses", "novelty glasses", "printed eyes", "paper cut",
    "partial mask", "half mask", "partial attack", "partial cover", "fake tattoo",
)
LIVE_CLAIMS = (
    "real person", "real human", "real face", "live person", "live face", "living person", "live subject",
    "genuine", "bona fide", "bonafide", "authentic", "actual person", "not a spoof", "not fake", "no spoof",
    "no sign of spoofing", "no sign of an attack",
)
SPOOF_CLAIMS = (
    "spoof", "fake", "presentation attack", "attack", "not a real person", "not real", "not live", "not genuine",
    "forgery", "counterfeit", "replica", "recapture", "artificial face",
)

FAMILIES: dict[str, Family] = {
    "live": Family(
        name="live",
        description="a live person in front of the camera",
        keywords=(
            "person", "man", "men", "woman", "women", "boy", "girl", "child", "children", "people", "face", "skin",
            "subject", "individual",
            "portrait", "pore", "natural skin texture", "3D shading", "specular highlight",
        ),
        cues=LIVE_CLAIMS,
    ),
    "print": Family(
        name="print",
        description="a face printed on paper and held up to the camera",
        keywords=PRINT_TERMS + (
            "wrinkle", "paper texture", "glossy paper", "matte paper", "colour banding", "cut-out", "cutout",
            "eye hole",
        ),
        cues=PRINT_TERMS,
    ),
    "replay": Family(
        name="replay",
        description="a face photo or video replayed on a screen",
        keywords=SCREEN_TERMS + ("glare", "pixel", "pixelation", "reflection on the glass", "colour banding"),
        cues=SCREEN_TERMS,
    ),
    "paper_mask": Family(
        name="paper_mask",
        description="a paper mask: a face printed on paper, cut out and worn",
        keywords=PAPER_MASK_TERMS + PRINT_TERMS + ("printed eyes",),
        cues=PAPER_MASK_TERMS,
    ),
    "3d_mask": Family(
        name="3d_mask",
        description="a 3D mask (silicone, latex, resin, plaster or a mannequin head) in front of the camera",
        keywords=RIGID_MASK_TERMS + (
            "unnatural skin texture", "synthetic skin", "doll-like", "lifeless eye", "seam", "mask seam", "mask edge",
            "molded", "moulded", "half mask", "partial mask", "impersonation",
        ),
        cues=RIGID_MASK_TERMS,
    ),
    "makeup": Family(
        name="makeup",
        description="makeup applied to disguise or impersonate a face",
        keywords=MAKEUP_CUES + (
            "makeup", "make-up", "cosmetic", "foundation", "concealer", "contour", "contouring", "eyeliner",
            "eye shadow", "lipstick", "painted", "drawn-on", "prosthetic",
        ),
        cues=MAKEUP_CUES,
    ),
    "partial": Family(
        name="partial",
        description="a partial attack: part of the face covered by glasses, a paper cut-out or another overlay",
        keywords=PARTIAL_CUES + PRINT_TERMS + (
            "partial", "glasses", "cover", "covering", "occlusion", "occluded", "overlay", "patch", "sticker",
            "tattoo", "wig", "disguise", "cut-out", "cutout", "paper cut-out", "mask",
        ),
        cues=PARTIAL_CUES,
    ),
    "other": Family(
        name="other",
        description="a presentation attack",
        keywords=SPOOF_CLAIMS,
        cues=SPOOF_CLAIMS,
    ),
}
SPOOF_FAMILIES = tuple(name for name in FAMILIES if name not in ("live", "other"))



def _code(token: str) -> str:
    """A regex for a short code that must stand alone in a detail string ("mc" in "rose_mc", not in "mcdonald")."""
    return rf"(?:^|[^a-z0-9]){token}(?:$|[^a-z0-9])"


# `other` rows: the first rule whose pattern occurs in the lower-cased detail gives the family ("mask": paper or 3D).
PAPER_MASK_DETAIL = re.compile("|".join(("paper", "cardboard", "card", r"cut[-_ ]?out", _code("m[cfu]"))))
DETAIL_RULES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"makeup|make-up|cosmetic|impersonat|obfuscat", "makeup"),
        (r"mask", "mask"),
        (r"glass|wig|tattoo|funny|partial|paper[-_ ]?cut|half", "partial"),
        (r"silicone|latex|resin|plaster|mannequin|rigid|transparent|" + _code("3d"), "3d_mask"),
        (r"screen|replay|video|display|monitor|tablet|ipad|iphone|phone|mobile|laptop|electronic|digital|"
         + _code("pc"), "replay"),
        (r"print|photo|paper|poster|cloth|" + _code("a4"), "print"),
    )
)


def family_of(attack_type: str, attack_detail: str = "") -> str:
    """Return the family name (a key of `FAMILIES`) of a row from its contract `attack_type` and `attack_detail`.

    `none` -> `live`; `print`, `replay`, `makeup`, `partial` map to themselves; `mask` -> `paper_mask` when the
    detail names paper/cardboard/a cut-out or a ROSE-Youtu paper-mask code (Mc, Mf, Mu), else `3d_mask`;
    `other` is placed by the first matching `DETAIL_RULES` entry, else stays `other` (any spoof word is evidence).
    """
    if attack_type not in ATTACK_TYPES:
        raise ValueError(f"attack_type {attack_type!r} is not one of {ATTACK_TYPES}")
    detail = (attack_detail or "").lower()
    if attack_type == "none":
        return "live"
    if attack_type in ("print", "replay", "makeup", "partial"):
        return attack_type
    if attack_type == "mask":
        return _mask_family(detail)
    for pattern, family in DETAIL_RULES:
        if pattern.search(detail):
            return _mask_family(detail) if family == "mask" else family
    return "other"


def _mask_family(detail: str) -> str:
    return "paper_mask" if PAPER_MASK_DETAIL.search(detail) else "3d_mask"
