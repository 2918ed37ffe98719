"""A simulated general captioner C_G that makes the paper's mistakes at known rates, and its fine-tuned C_S.

`SimulatedCaptioner` captions a row correctly (the template caption of its family) except for a seeded share of
rows, drawn independently per row from its identity:
- `miss_rate`: the caption names no cue (`noisy_captions` kind `generic`);
- `wrong_rate`: it names another family's medium and cues (`wrong_family`);
- `contradict_rate`: it contradicts the label, e.g. calls a spoof a real face (`contradict`).
`error_of(row)` says which mistake (or None) a row gets, so a test or report can count them.

`fine_tuned(kept)` is the simulated C_S: supervised fine-tuning on the kept captions with the attack-aware prompt
(which states the row's attack) teaches the captioner the kept captions of each family, so C_S answers a row with a
kept caption of the row's family (seeded per row); for a family without kept captions it has learned nothing and
answers as C_G does. Both expose `caption(rows)`, `source` and `settings`, like `PipelineCaptioner`.

Example:
    >>> captioner = SimulatedCaptioner(miss_rate=0.0, wrong_rate=0.0, contradict_rate=1.0, concise=True)
    >>> captioner.caption([{"attack_type": "replay", "attack_detail": "", "video_id": "v1"}])[0].startswith("Live")
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from datasets_scripts.scf.keywords import family_of
from datasets_scripts.scf.noisy_captions import seeded_rng, family_caption, noisy_caption
from datasets_scripts.scf.template_captioner import row_key

ERROR_KINDS = {"miss": "generic", "wrong": "wrong_family", "contradict": "contradict"}


@dataclass(frozen=True)
class SimulatedCaptioner:
    """C_G with the given error rates (fractions of rows, summing to at most 1)."""

    miss_rate: float = 0.2
    wrong_rate: float = 0.1
    contradict_rate: float = 0.1
    seed: int = 0
    concise: bool = False
    source: str = "simulated_general"

    def __post_init__(self):
        rates = (self.miss_rate, self.wrong_rate, self.contradict_rate)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError(f"error rates {rates} must be non-negative and sum to at most 1")

    @property
    def settings(self) -> dict:
        return {"source": self.source, "miss_rate": self.miss_rate, "wrong_rate": self.wrong_rate,
                "contradict_rate": self.contradict_rate, "seed": self.seed, "concise": self.concise}

    def error_of(self, row: Mapping) -> str | None:
        """"miss", "wrong", "contradict" or None (a correct caption) for this row."""
        draw = seeded_rng(self.seed, "error|" + row_key(row)).random()
        for error, rate in (("miss", self.miss_rate), ("wrong", self.wrong_rate),
                            ("contradict", self.contradict_rate)):
            if draw < rate:
                return error
            draw -= rate
        return None

    def caption_row(self, row: Mapping) -> str:
        key = row_key(row)
        error = self.error_of(row)
        if error is None:
            return family_caption(family_of(row["attack_type"], row.get("attack_detail") or ""), seed=self.seed,
                                  key=key, concise=self.concise)
        return noisy_caption(ERROR_KINDS[error], row["attack_type"], row.get("attack_detail") or "", seed=self.seed,
                             key=key, concise=self.concise)

    def caption(self, rows: Sequence[Mapping]) -> list[str]:
        return [self.caption_row(row) for row in rows]

    def fine_tuned(self, kept: Sequence[Mapping]) -> SimulatedSpoofAwareCaptioner:
        """C_S fine-tuned on `kept`: rows (attack_type, attack_detail) with the captions the filter kept."""
        pools: dict[str, list[str]] = {}
        for row in kept:
            pools.setdefault(family_of(row["attack_type"], row.get("attack_detail") or ""), []).append(row["caption"])
        return SimulatedSpoofAwareCaptioner(general=self, pools={f: tuple(c) for f, c in sorted(pools.items())})


@dataclass(frozen=True)
class SimulatedSpoofAwareCaptioner:
    """C_S: a kept caption of the row's family; C_G's answer for families it saw no kept caption of."""

    general: SimulatedCaptioner
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "simulated_spoof_aware"

    @property
    def settings(self) -> dict:
        return {"source": self.source, "general": self.general.settings,
                "kept_per_family": {f: len(c) for f, c in self.pools.items()}}

    def caption(self, rows: Sequence[Mapping]) -> list[str]:
        captions = []
        for row in rows:
            pool = self.pools.get(family_of(row["attack_type"], row.get("attack_detail") or ""))
            captions.append(seeded_rng(self.general.seed, "c_s|" + row_key(row)).choice(pool) if pool
                            else self.general.caption_row(row))
        return captions
