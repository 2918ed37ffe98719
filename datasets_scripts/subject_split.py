"""Seeded, deterministic train/test assignment by subject for corpora without an official split.

Every subject gets a stable number in [0, 1): the first 8 bytes of sha256("<corpus>:<seed>:<subject>") as a
fraction of 2**64. `seeded_split`: a subject goes to test when its number is below `test_fraction`.
`ranked_split`, for corpora whose full subject list is documented (HKBU-MARs V2 01-12, ROSE-Youtu 2-23): the
round(test_fraction * n) subjects of that list with the smallest numbers go to test, so the halves are balanced.
Either way the answer depends only on the corpus name, the seed and the subject id (never on which other subjects
a local copy holds), and all videos of a subject land in the same split (subject-disjoint train and test).

Example:
    >>> seeded_split("rose_youtu", "2") == seeded_split("rose_youtu", "2")
    True
    >>> seeded_split("rose_youtu", "2", test_fraction=0.0)
    'train'
    >>> [ranked_split("hkbu_mars", str(s), range(1, 13)) for s in range(1, 13)].count("test")
    6
"""

from __future__ import annotations

import hashlib

DEFAULT_SEED = 0
DEFAULT_TEST_FRACTION = 0.5


def subject_fraction(corpus: str, subject: str, seed: int = DEFAULT_SEED) -> float:
    """A stable number in [0, 1) for (`corpus`, `seed`, `subject`)."""
    digest = hashlib.sha256(f"{corpus}:{seed}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def seeded_split(corpus: str, subject: str, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = DEFAULT_SEED) -> str:
    """'test' for a seeded `test_fraction` of subjects, else 'train'."""
    return "test" if subject_fraction(corpus, str(subject), seed) < test_fraction else "train"


def ranked_split(corpus: str, subject: str, all_subjects, test_fraction: float = DEFAULT_TEST_FRACTION,
                 seed: int = DEFAULT_SEED) -> str:
    """'test' when `subject` is among the round(test_fraction * n) of `all_subjects` with the smallest numbers."""
    subjects = sorted({str(s) for s in all_subjects}, key=lambda s: (subject_fraction(corpus, s, seed), s))
    if str(subject) not in subjects:
        raise ValueError(f"{corpus}: subject {subject!r} is not one of the documented subjects {subjects}")
    return "test" if subjects.index(str(subject)) < round(test_fraction * len(subjects)) else "train"
