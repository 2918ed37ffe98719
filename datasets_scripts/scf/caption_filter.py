"""The SCF filter: keep a caption only when it names its own attack family and nothing contradicts its label.

Rules (checked in this order; the first failure is the verdict's `reason`):
1. `empty`: the caption has no text.
2. `contradicts_label`: a spoof caption affirms a live claim ("real person", "genuine", ...); a live caption affirms a
   spoof claim ("fake", "attack", ...) or a cue of any spoof family ("screen", "paper", "mask", "silicone", ...).
3. `wrong_family_cue`: a spoof caption affirms a cue of another spoof family that its own family does not list, e.g.
   "screen" in a print caption or "silicone" in a paper-mask caption. A caption that names the wrong medium would
   teach the model a wrong explanation, so it is rejected even when it also names the right one. Family `other`
   (an unknown attack) skips this rule.
4. `no_family_keyword`: the caption names no keyword of its family (for `other`: no spoof word of any family; for
   live: no person, face or skin word, which also rejects gibberish).

Negated mentions never count ("no moiré", "not a real person"); see `matching.py`.

Example:
    >>> judge_caption("Halftone dots and curled paper edges show a printout.", 1, "print").kept
    True
    >>> judge_caption("A genuine face seen through a screen.", 1, "replay").reason
    'contradicts_label'
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF
from datasets_scripts.scf.keywords import FAMILIES, SPOOF_CLAIMS, SPOOF_FAMILIES, family_of
from datasets_scripts.scf.matching import find_mentions, find_terms

REASONS = ("kept", "empty", "contradicts_label", "wrong_family_cue", "no_family_keyword")


@dataclass(frozen=True)
class Verdict:
    """The filter's decision on one caption, with the terms that decided it."""

    kept: bool
    reason: str
    family: str
    evidence: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


def family_terms(text: str, family: str) -> list[str]:
    """The keywords of `family` that `text` affirms (`other`: spoof words of every spoof family)."""
    if family == "other":
        return find_terms(text, SPOOF_CLAIMS + tuple(t for f in SPOOF_FAMILIES for t in FAMILIES[f].keywords))
    return find_terms(text, FAMILIES[family].keywords)


def live_claims(text: str) -> list[str]:
    """Claims that the face is genuine ("real person", "bona fide", ...) that `text` affirms."""
    return find_terms(text, FAMILIES["live"].cues)


def spoof_cues(text: str) -> list[str]:
    """Spoof claims and spoof-family cues that `text` affirms; a live caption must have none."""
    return find_terms(text, SPOOF_CLAIMS + tuple(t for f in SPOOF_FAMILIES for t in FAMILIES[f].cues))


def wrong_family_cues(text: str, family: str) -> list[str]:
    """Cues of other spoof families that `text` affirms outside a mention of `family`'s own words (none for `other`).

    A foreign mention inside an own one does not count: "printed" is a print cue, but not in a partial caption's
    "printed eyes" when partial lists "printed"; "paper mask" in a print caption counts although "paper" is print's.
    """
    if family == "other":
        return []
    own_words = FAMILIES[family].keywords + FAMILIES[family].cues
    own = find_mentions(text, own_words)
    foreign = tuple(t for f in SPOOF_FAMILIES if f != family for t in FAMILIES[f].cues if t not in own_words)
    return list(dict.fromkeys(
        term for term, start, end in find_mentions(text, foreign)
        if not any(o_start <= start and end <= o_end for _, o_start, o_end in own)
    ))


def judge_caption(caption: str, label: int, attack_type: str, attack_detail: str = "") -> Verdict:
    """Apply the SCF filter to one caption (the explanation only, without the Yes/No judgment)."""
    if label not in (LABEL_LIVE, LABEL_SPOOF):
        raise ValueError(f"label {label!r} is not 0 (live) or 1 (spoof)")
    family = family_of(attack_type, attack_detail)
    if (label == LABEL_LIVE) != (family == "live"):
        raise ValueError(f"label {label} contradicts attack_type {attack_type!r}")
    text = caption or ""
    if not text.strip():
        return Verdict(False, "empty", family)
    conflicts = spoof_cues(text) if family == "live" else live_claims(text)
    if conflicts:
        return Verdict(False, "contradicts_label", family, conflicts=tuple(conflicts))
    wrong = wrong_family_cues(text, family) if family != "live" else []
    if wrong:
        return Verdict(False, "wrong_family_cue", family, conflicts=tuple(wrong))
    evidence = family_terms(text, family)
    if not evidence:
        return Verdict(False, "no_family_keyword", family)
    return Verdict(True, "kept", family, evidence=tuple(evidence))


def keep_caption(caption: str, label: int, attack_type: str, attack_detail: str = "") -> bool:
    """Whether the SCF filter keeps `caption` for a row with this label and attack."""
    return judge_caption(caption, label, attack_type, attack_detail).kept
