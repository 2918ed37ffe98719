"""The template captioner: attack-aware explanations with varied wording, the offline fallback of SCF.

A caption names the attack medium (from the row's family and `attack_detail`: "an iPad screen", "a silicone mask",
"paper glasses", ...) and two or three visual cues drawn from the family's pool (halftone dots, moiré, bezel,
cut-out eye holes, waxy skin, ...); live captions name natural skin texture, 3D shading, specular highlights.
Cues that the row's `attack_detail` names (SynthFAS tags what it rendered: glare, bezel, curl, edges, ...) come
first. The choice is seeded by `seed` and the row's identity, so the same row always gets the same caption.
Captions are the explanation only (no "Yes"/"No") and always pass the SCF filter.

Example:
    >>> template_caption("replay", "ipad_video", seed=0, key="msu/v1/0")
    'The image is a recapture of a tablet screen, with moiré patterns over the face and colour banding from the display screen.'
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping

from datasets_scripts.scf.keywords import family_of

SOURCE = "template"

# Per family: (regex on the lower-cased attack_detail, medium phrases), first match wins; "" is the default.
# (?<![a-z]) and (?![a-z]) keep short corpus codes (CASIA-SURF "e_s", ROSE-Youtu "Mu") from matching inside words.
MEDIA: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "print": (
        ("poster", ("a printed poster", "a poster print")),
        ("cloth", ("a photo printed on cloth", "a fabric print")),
        ("cut", ("a paper print with the eyes cut out", "a printed photo with cut-out eye holes")),
        (r"(?<![a-z])enm_", ("a paper print with the eyes, nose and mouth cut out",)),
        (r"(?<![a-z])en_[sb]", ("a paper print with the eyes and nose cut out",)),
        (r"(?<![a-z])e_[sb]", ("a paper print with the eyes cut out",)),
        ("warp", ("a bent paper printout", "a warped photo print")),
        ("", ("a photo printed on paper", "a paper printout", "a printed photograph", "a hard-copy print")),
    ),
    "replay": (
        ("ipad", ("an iPad screen", "a tablet screen")),
        ("tablet", ("a tablet screen",)),
        ("iphone", ("an iPhone screen", "a smartphone screen")),
        ("phone", ("a smartphone screen", "a phone screen")),
        ("mobile", ("a smartphone screen", "a phone screen")),
        ("laptop", ("a laptop screen",)),
        ("monitor", ("a computer monitor", "a monitor screen")),
        (r"(?<![a-z])pc(?![a-z])", ("a computer monitor",)),
        ("video", ("a video replayed on a screen", "a face video shown on a digital display")),
        ("", ("a digital screen", "a tablet or phone screen", "a digital display")),
    ),
    "paper_mask": (
        (r"(?<![a-z])mu(?![a-z])", ("a paper mask covering the upper face",)),
        (r"(?<![a-z])mc(?![a-z])", ("a cropped paper mask",)),
        ("", ("a paper mask", "a printed paper mask", "a cut-out paper mask")),
    ),
    "3d_mask": (
        ("silicone", ("a silicone mask", "a flexible silicone mask")),
        ("latex", ("a latex mask",)),
        ("resin", ("a resin mask", "a rigid resin mask")),
        ("plaster", ("a plaster mask",)),
        ("transparent", ("a transparent plastic mask",)),
        ("mannequin", ("a mannequin head",)),
        ("rigid", ("a rigid 3D mask",)),
        ("", ("a 3D mask", "a realistic 3D mask", "a rigid 3D mask")),
    ),
    "makeup": (
        ("impersonat", ("impersonation makeup", "heavy impersonation makeup")),
        ("obfuscat", ("obfuscation makeup", "heavy obfuscation makeup")),
        ("", ("heavy makeup", "theatrical makeup", "face paint")),
    ),
    "partial": (
        ("funny", ("funny-eye glasses", "novelty glasses with printed eyes")),
        ("glass", ("paper glasses with printed eyes", "fake glasses")),
        ("mouth", ("a printed paper cut-out over the mouth",)),
        ("eye", ("a paper cut-out over the eyes",)),
        ("cut", ("a paper cut-out",)),
        ("wig", ("a wig",)),
        ("tattoo", ("a fake tattoo",)),
        ("", ("a partial cover", "a printed overlay")),
    ),
    "other": (("", ("a presentation attack", "a spoofing artefact in front of the camera")),),
    "live": (("", ("a live person", "a person in front of the camera", "a person facing the camera")),),
}

SPOOF_OPENERS = (
    "The face is {medium}:", "This is {medium}, with", "The image shows {medium} with",
    "What the camera sees is {medium}:", "The face comes from {medium}, showing",
)
OPENERS: dict[str, tuple[str, ...]] = {
    "print": SPOOF_OPENERS,
    "replay": (
        "The face is shown on {medium}:", "The image is a recapture of {medium}, with",
        "The face is replayed on {medium}, showing", "The camera is looking at {medium}:",
    ),
    "paper_mask": SPOOF_OPENERS + ("The person wears {medium}, with",),
    "3d_mask": SPOOF_OPENERS,
    "makeup": (
        "The face is disguised with {medium}:", "The person's face is covered in {medium}, with",
        "The face has been altered with {medium}, showing",
    ),
    "partial": (
        "Part of the face is covered by {medium}:", "The face is partly hidden behind {medium}, with",
        "The image shows {medium} on the face, with",
    ),
    "other": SPOOF_OPENERS,
    "live": (
        "The image shows {medium} with", "This is {medium}, with", "The camera captures {medium}, showing",
        "The photo is of {medium}, with",
    ),
}

CUES: dict[str, tuple[str, ...]] = {
    "print": (
        "halftone dots across the skin", "visible paper edges around the face", "creases and wrinkles in the paper",
        "flat shading with no depth", "washed-out ink colours", "a faint dot pattern from the printer",
        "a uniform paper texture instead of skin pores", "a glossy sheen on the printed paper",
        "blurred print detail around the eyes",
    ),
    "replay": (
        "moiré patterns over the face", "screen glare across the image", "the device bezel at the edge of the frame",
        "a visible pixel grid", "backlit, overly uniform brightness", "reflections on the glass of the screen",
        "colour banding from the display screen", "faint scan lines across the picture",
    ),
    "paper_mask": (
        "cut-out eye holes", "straight paper edges along the jaw and forehead", "flat printed skin with halftone dots",
        "folds in the paper", "the wearer's eyes showing through the holes", "a sharp paper outline around the face",
    ),
    "3d_mask": (
        "unnatural skin texture", "a waxy, plastic-like surface", "seams along the mask edges",
        "eyes that look lifeless", "overly smooth skin without pores", "stiff features that do not move",
        "a uniform skin tone without the flush of blood flow", "a visible gap between the mask and the neck",
    ),
    "makeup": (
        "thick foundation that hides the skin pores", "painted contours that reshape the nose and cheekbones",
        "drawn-on eyebrows", "an unnaturally uniform skin tone", "sharp colour boundaries where the makeup ends",
        "heavy eyeliner and shading that change the eye shape",
    ),
    "partial": (
        "a sharp edge where the cover meets the skin",
        "a flat covered region next to skin with natural depth",
        "mismatched texture between the covered part and the skin",
        "a border around the covered region",
    ),
    "other": (
        "an artificial surface in place of the face", "texture and shading that do not match skin",
        "edges that separate the artefact from the background",
    ),
    "live": (
        "natural skin texture with fine pores", "soft 3D shading that follows the nose and cheekbones",
        "specular highlights on the skin of the forehead and nose", "natural depth between the nose, eyes and ears",
        "fine hair strands at the hairline", "subtle skin colour variation from blood flow",
        "consistent lighting across the face and the background", "moist, reflective eyes",
    ),
}

# Per family: (regex on the lower-cased attack_detail, cue) for artefacts the detail says are in the image (SynthFAS
# tags what it rendered: "replay:phone_oled:glare:bezel"); these cues come first, the family's pool fills the rest.
DETAIL_CUES: dict[str, tuple[tuple[str, str], ...]] = {
    "print": (
        ("halftone", "halftone dots across the skin"), ("laser", "a faint dot pattern from the printer"),
        ("glossy", "a glossy sheen on the printed paper"), ("inkjet", "washed-out ink colours"),
        ("curl", "a curled sheet of paper that bends the face"), ("edges", "visible paper edges around the face"),
    ),
    "replay": (
        ("glare", "screen glare across the image"), ("bezel", "the device bezel at the edge of the frame"),
        ("banding", "colour banding from the display screen"),
    ),
    "paper_mask": (
        ("paper_cutout", "the wearer's eyes showing through the holes"),
        ("sheet", "straight paper edges along the jaw and forehead"), ("oval", "a sharp paper outline around the face"),
    ),
}

# Concise captions open with the family's name, so the explanation's first word after the judgment decides it.
CONCISE_LEADS: dict[str, str] = {
    "print": "Printed photo", "replay": "Screen replay", "paper_mask": "Paper mask", "3d_mask": "3D mask",
    "makeup": "Makeup disguise", "partial": "Partial cover", "other": "Presentation attack", "live": "Live face",
}

CLOSERS: dict[str, tuple[str, ...]] = {
    "spoof": ("", "", " These cues give the attack away.", " Such artefacts are typical of this attack."),
    "live": ("", "", " All of this fits a live face.", " The face has natural depth."),
}


def row_key(row: Mapping) -> str:
    """The identity of a contract row that seeds its template caption (image bytes are not read)."""
    return "|".join(str(row.get(k, "")) for k in ("dataset", "split", "subject", "video_id", "frame_index"))


def _rng(seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _media(family: str, detail: str) -> tuple[str, ...]:
    detail = detail.lower()
    return next(media for pattern, media in MEDIA[family] if re.search(pattern, detail))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def template_caption(
    attack_type: str, attack_detail: str = "", *, seed: int = 0, key: str = "", concise: bool = False
) -> str:
    """An attack-aware explanation for one row; deterministic in (`attack_type`, `attack_detail`, `seed`, `key`).

    `concise=True` gives the family's name and a single cue (about 10 tokens instead of 40), for small training
    budgets: the family comes first, one fixed phrase per family, so one token decides it; the cue is one that
    `attack_detail` names when it names any:

    >>> template_caption("replay", "replay:phone_oled:glare:bezel", seed=0, key="a", concise=True)
    'Screen replay: the device bezel at the edge of the frame.'
    """
    family = family_of(attack_type, attack_detail)
    rng = _rng(seed, f"{attack_type}|{attack_detail}|{key}")
    detail = (attack_detail or "").lower()
    shown = [cue for pattern, cue in DETAIL_CUES.get(family, ()) if re.search(pattern, detail)]
    if concise:
        return f"{CONCISE_LEADS[family]}: {rng.choice(shown or CUES[family])}."
    medium = rng.choice(_media(family, detail))
    opener = rng.choice(OPENERS[family]).format(medium=medium)
    count = rng.choice((2, 3))
    cues = rng.sample(shown, k=min(count, len(shown)))
    cues += rng.sample([cue for cue in CUES[family] if cue not in cues], k=count - len(cues))
    closer = rng.choice(CLOSERS["live" if family == "live" else "spoof"])
    sentence = f"{opener} {_join(cues)}."
    return sentence[0].upper() + sentence[1:] + closer


def template_caption_for_row(row: Mapping, seed: int = 0, concise: bool = False) -> str:
    """`template_caption` for a contract row (uses its attack_type, attack_detail and `row_key`)."""
    return template_caption(row["attack_type"], row.get("attack_detail") or "", seed=seed, key=row_key(row),
                            concise=concise)
