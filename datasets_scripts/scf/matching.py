"""Find dictionary terms in free text: case-insensitive, whole words, inflected forms, negated mentions skipped.

A term matches its plural and -ed/-ing/-er forms ("crease" -> "creases", "creased"; "cut" -> "cutting"), and its
words may be joined by spaces, hyphens or nothing ("cut-out" = "cut out" = "cutout"). A mention preceded in the same
clause (at most `NEGATION_WINDOW` words back, not crossing . , ; : ! ?) by a negation ("no", "not", "without",
"free of", "rather than", "n't", ...) does not count: "no screen glare" names no screen.

Example:
    >>> find_terms("Creased PAPER edges, without any screen.", ("paper edge", "crease", "screen"))
    ['paper edge', 'crease']
"""

from __future__ import annotations

import re
from functools import lru_cache

NEGATION_WINDOW = 5
NEGATION = re.compile(
    r"\b(?:no|not|without|never|nor|neither|none|nothing|lack|lacks|lacking|absent|absence|free of|instead of|"
    r"rather than|cannot)\b|n't\b",
    re.IGNORECASE,
)
CLAUSE_END = re.compile(r"[.,;:!?]|\b(?:but|however|although|though|while|whereas)\b", re.IGNORECASE)


def _word_forms(word: str) -> str:
    """A regex for one word and its regular inflections."""
    escaped = re.escape(word)
    if not word[-1].isalpha():
        return escaped + "s?"
    if word.endswith("e"):
        return rf"(?:{escaped}(?:s|d|r|rs)?|{re.escape(word[:-1])}(?:ing|ed))"
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        return rf"(?:{escaped}|{re.escape(word[:-1])}(?:ies|ied|ier))"
    doubled = re.escape(word + word[-1])
    return rf"(?:{escaped}(?:s|es|ed|ing|er|ers)?|{doubled}(?:ed|ing|er))"


@lru_cache(maxsize=4096)
def term_pattern(term: str) -> re.Pattern:
    """The compiled pattern of one dictionary term (words joined by optional spaces or hyphens)."""
    words = [w for w in re.split(r"[\s\-]+", term.strip()) if w]
    if not words:
        raise ValueError(f"empty dictionary term {term!r}")
    body = r"[\s\-]*".join(_word_forms(w) for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def is_negated(text: str, start: int) -> bool:
    """Whether the mention starting at `start` is negated within its clause."""
    before = text[:start]
    clause_ends = list(CLAUSE_END.finditer(before))
    if clause_ends:
        before = before[clause_ends[-1].end():]
    window = " ".join(before.split()[-NEGATION_WINDOW:])
    return bool(NEGATION.search(window))


def find_mentions(text: str, terms: tuple[str, ...] | list[str]) -> list[tuple[str, int, int]]:
    """Every non-negated mention in `text` as (term, start, end), in dictionary order of the terms."""
    return [
        (term, m.start(), m.end())
        for term in dict.fromkeys(terms)
        for m in term_pattern(term).finditer(text)
        if not is_negated(text, m.start())
    ]


def find_terms(text: str, terms: tuple[str, ...] | list[str]) -> list[str]:
    """The terms (in dictionary order, without duplicates) that `text` mentions at least once without negation."""
    return list(dict.fromkeys(term for term, _, _ in find_mentions(text, terms)))
