"""Explanation-consistency judge for generated I-FAS answers ("No. The face is printed on paper: ...").

For one answer it reports
- `judgment_correct`: the leading Yes/No agrees with the label (Yes = live, No = spoof);
- `explanation_consistent`: the explanation does not contradict the judgment (after "No": no claim that the face
  is genuine; after "Yes": no spoof claim or spoof-family cue); False when there is no Yes/No;
- `names_family`: the explanation names the sample's own attack family (a live keyword for live samples),
  using the SCF keyword dictionary and its negation-aware matching.
`aggregate_by_attack_type` turns many judgments into rates per attack type (and "all").

Example:
    >>> j = judge_answer("No. The face is printed on paper with halftone dots.", 1, "print")
    >>> (j.judgment, j.judgment_correct, j.explanation_consistent, j.names_family)
    ('no', True, True, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from datasets_scripts.contract import LABEL_LIVE
from datasets_scripts.scf.caption_filter import family_terms, live_claims, spoof_cues
from datasets_scripts.scf.keywords import family_of

JUDGMENT = re.compile(r"^\W*(yes|no)\b[\s,.:;!\-]*", re.IGNORECASE)
RATES = ("judgment_correct", "explanation_consistent", "names_family", "fully_consistent")


@dataclass(frozen=True)
class AnswerJudgment:
    """The judge's view of one generated answer."""

    attack_type: str
    family: str
    judgment: str | None
    explanation: str
    judgment_correct: bool
    explanation_consistent: bool
    names_family: bool
    conflicts: tuple[str, ...] = ()

    @property
    def fully_consistent(self) -> bool:
        """Right judgment, an explanation that agrees with it, and the sample's own family named."""
        return self.judgment_correct and self.explanation_consistent and self.names_family


def split_answer(answer: str) -> tuple[str | None, str]:
    """("yes" | "no" | None, explanation) from an answer that should start with the judgment word."""
    match = JUDGMENT.match(answer or "")
    if match is None:
        return None, (answer or "").strip()
    return match.group(1).lower(), answer[match.end():].strip()


def judge_answer(answer: str, label: int, attack_type: str, attack_detail: str = "") -> AnswerJudgment:
    """Judge one generated answer against the sample's label and attack type/detail."""
    family = family_of(attack_type, attack_detail)
    judgment, explanation = split_answer(answer)
    if judgment == "no":
        conflicts = live_claims(explanation)
    elif judgment == "yes":
        conflicts = spoof_cues(explanation)
    else:
        conflicts = []
    return AnswerJudgment(
        attack_type=attack_type,
        family=family,
        judgment=judgment,
        explanation=explanation,
        judgment_correct=judgment is not None and (judgment == "yes") == (label == LABEL_LIVE),
        explanation_consistent=judgment is not None and not conflicts,
        names_family=bool(family_terms(explanation, family)),
        conflicts=tuple(conflicts),
    )


def aggregate_by_attack_type(judgments: Iterable[AnswerJudgment]) -> dict[str, dict]:
    """{attack_type or "all": {"n": count, "judgment_correct": rate, "explanation_consistent": rate,
    "names_family": rate, "fully_consistent": rate}}."""
    groups: dict[str, list[AnswerJudgment]] = {}
    for judgment in judgments:
        groups.setdefault(judgment.attack_type, []).append(judgment)
        groups.setdefault("all", []).append(judgment)
    return {
        name: {"n": len(items)} | {rate: sum(bool(getattr(j, rate)) for j in items) / len(items) for rate in RATES}
        for name, items in sorted(groups.items())
    }


def judgment_record(judgment: AnswerJudgment) -> dict:
    """A JSON-ready dict of one judgment (with `fully_consistent`)."""
    return asdict(judgment) | {"fully_consistent": judgment.fully_consistent}
