"""Wrong captions on purpose: the three mistakes of a general captioner, and controlled caption noise for training.

Kinds (`NOISE_KINDS`), for a row of family f (`keywords.family_of`):
- `wrong_family`: the template caption of another family (a spoof row gets another spoof family's medium and cues,
  "Screen replay: moiré ..." on a print; a live row gets a spoof family's, which also contradicts its label);
- `generic`: a caption that names no cue of any family ("A face in front of the camera.");
- `contradict`: a caption that contradicts the label: a spoof row is called a real face (a live caption, with "A real
  face." in front when its wording makes no such claim), a live row a presentation attack.
Captions follow the template captioner's style (`concise` as the demo's) and are deterministic in (`kind`, `seed`,
the row's identity).

`add_caption_noise` replaces the captions of exactly `round(p * len(split))` rows of one split (the training rows),
chosen by `seed`; the other splits are returned untouched.

Example:
    >>> noisy_caption("contradict", "print", "print:laser", seed=0, key="a", concise=True).startswith("Live face")
    True
    >>> noisy_caption("generic", "replay", seed=0, key="a") in GENERIC_CAPTIONS
    True
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from datasets import Dataset

from datasets_scripts.scf.caption_filter import live_claims
from datasets_scripts.scf.keywords import SPOOF_FAMILIES, family_of
from datasets_scripts.scf.template_captioner import row_key, template_caption

NOISE_KINDS = ("wrong_family", "generic", "contradict")
NOISE_SOURCE = "noise:{kind}"
# A contract (attack_type, attack_detail) that `family_of` maps to each family, to ask the template captioner for it.
FAMILY_ATTACKS = {
    "live": ("none", ""), "print": ("print", ""), "replay": ("replay", ""), "paper_mask": ("mask", "paper"),
    "3d_mask": ("mask", "silicone"), "makeup": ("makeup", ""), "partial": ("partial", ""), "other": ("other", ""),
}
GENERIC_CAPTIONS = (
    "A face in front of the camera.", "A frontal view of a face under indoor light.",
    "A head-and-shoulders shot of someone looking at the camera.", "A face centred in the frame.",
)


def seeded_rng(seed: int, key: str) -> random.Random:
    """A random generator determined by `seed` and `key`."""
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:8], "big"))


def family_caption(family: str, *, seed: int, key: str, concise: bool = False) -> str:
    """The template caption of `family` (a key of `keywords.FAMILIES`) for the row identified by `key`."""
    attack_type, attack_detail = FAMILY_ATTACKS[family]
    return template_caption(attack_type, attack_detail, seed=seed, key=key, concise=concise)


def noisy_caption(kind: str, attack_type: str, attack_detail: str = "", *, seed: int = 0, key: str = "",
                  concise: bool = False) -> str:
    """A caption of `kind` (one of `NOISE_KINDS`) for a row with this attack; see the module docstring."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"caption noise kind {kind!r} is not one of {NOISE_KINDS}")
    family = family_of(attack_type, attack_detail)
    rng = seeded_rng(seed, f"{kind}|{attack_type}|{attack_detail}|{key}")
    if kind == "generic":
        return rng.choice(GENERIC_CAPTIONS)
    if kind == "contradict":
        if family == "live":
            return family_caption("other", seed=seed, key=key, concise=concise)
        caption = family_caption("live", seed=seed, key=key, concise=concise)
        return caption if live_claims(caption) else f"A real face. {caption}"
    wrong = rng.choice([f for f in SPOOF_FAMILIES if f != family])
    return family_caption(wrong, seed=seed, key=key, concise=concise)


def noisy_rows(n_rows: int, p: float, seed: int) -> list[int]:
    """The sorted indices of the `round(p * n_rows)` rows that `seed` picks.

    >>> noisy_rows(10, 0.3, seed=0) == noisy_rows(10, 0.3, seed=0), len(noisy_rows(10, 0.3, seed=0))
    (True, 3)
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"caption noise p={p} is not a fraction in [0, 1]")
    order = list(range(n_rows))
    random.Random(seed).shuffle(order)
    return sorted(order[: round(p * n_rows)])


def add_caption_noise(splits: Mapping[str, Dataset], p: float, kind: str, *, seed: int = 0, concise: bool = False,
                      split: str = "train") -> dict[str, Dataset]:
    """`splits` with the captions of a seeded fraction `p` of `split`'s rows replaced by `kind` captions
    (`caption_source` becomes "noise:KIND"); the other splits are the same objects, untouched."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"caption noise kind {kind!r} is not one of {NOISE_KINDS}")
    if split not in splits:
        raise ValueError(f"no split {split!r} to add caption noise to (has {list(splits)})")
    dataset = splits[split]
    chosen = set(noisy_rows(len(dataset), p, seed))
    if not chosen:
        return dict(splits)
    meta = dataset.select_columns(["attack_type", "attack_detail", "dataset", "split", "subject", "video_id",
                                   "frame_index", "caption", "caption_source"]).to_list()
    captions = [noisy_caption(kind, row["attack_type"], row["attack_detail"] or "", seed=seed, key=row_key(row),
                              concise=concise) if i in chosen else row["caption"] for i, row in enumerate(meta)]
    sources = [NOISE_SOURCE.format(kind=kind) if i in chosen else row["caption_source"] for i, row in enumerate(meta)]
    columns = dataset.column_names
    noisy = dataset.remove_columns(["caption", "caption_source"]).add_column("caption", captions)
    noisy = noisy.add_column("caption_source", sources).select_columns(columns)
    return {**splits, split: noisy}
