"""The one data contract every builder writes and every reader (training, SCF, evaluation) reads.

A corpus is a `datasets.DatasetDict` saved with `save_to_disk`, one split per key, with the columns of
`FEATURES`. Labels are 0 = live (bona fide), 1 = spoof; model scores are P(live).

Example:
    >>> from datasets_scripts.contract import FEATURES, make_record, LABEL_SPOOF
    >>> row = make_record(image="face.png", label=LABEL_SPOOF, attack_type="print", dataset="demo",
    ...                   split="train", subject="s1", video_id="s1_v1")
    >>> sorted(row) == sorted(FEATURES)
    True
"""

from __future__ import annotations

from datasets import Dataset, DatasetDict, Features, Image, Value

LABEL_LIVE = 0
LABEL_SPOOF = 1
LABELS = (LABEL_LIVE, LABEL_SPOOF)
ATTACK_TYPES = ("none", "print", "replay", "mask", "makeup", "partial", "other")

FEATURES = Features(
    {
        "image": Image(),
        "label": Value("int64"),
        "attack_type": Value("string"),
        "attack_detail": Value("string"),
        "dataset": Value("string"),
        "split": Value("string"),
        "subject": Value("string"),
        "video_id": Value("string"),
        "frame_index": Value("int64"),
        "caption": Value("string"),
        "caption_source": Value("string"),
    }
)
COLUMNS = tuple(FEATURES)


class ContractError(ValueError):
    """A dataset or record that does not follow the I-FAS data contract."""


def make_record(
    *,
    image,
    label: int,
    attack_type: str,
    dataset: str,
    split: str,
    subject: str,
    video_id: str,
    attack_detail: str = "",
    frame_index: int = 0,
    caption: str = "",
    caption_source: str = "",
) -> dict:
    """Return one validated row of the contract (`image` is a path, PIL image or bytes dict)."""
    record = {
        "image": image,
        "label": int(label),
        "attack_type": attack_type,
        "attack_detail": attack_detail,
        "dataset": dataset,
        "split": split,
        "subject": str(subject),
        "video_id": str(video_id),
        "frame_index": int(frame_index),
        "caption": caption,
        "caption_source": caption_source,
    }
    check_record(record)
    return record


def check_record(record: dict, where: str = "record") -> None:
    """Raise `ContractError` naming `where` when the label and attack type disagree or are unknown."""
    label, attack_type = record["label"], record["attack_type"]
    if label not in LABELS:
        raise ContractError(f"{where}: label {label!r} is not 0 (live) or 1 (spoof)")
    if attack_type not in ATTACK_TYPES:
        raise ContractError(f"{where}: attack_type {attack_type!r} is not one of {ATTACK_TYPES}")
    if (label == LABEL_LIVE) != (attack_type == "none"):
        raise ContractError(f"{where}: label {label} contradicts attack_type {attack_type!r}")


def check_dataset(dataset: Dataset | DatasetDict, where: str = "dataset") -> None:
    """Raise `ContractError` naming `where` when columns are missing or labels/attack types are invalid.

    Scans only the light columns (never decodes images).
    """
    splits = dataset.items() if isinstance(dataset, DatasetDict) else [("", dataset)]
    for split, ds in splits:
        name = f"{where}[{split}]" if split else where
        missing = [c for c in COLUMNS if c not in ds.column_names]
        if missing:
            raise ContractError(f"{name}: missing contract column(s) {missing}; has {ds.column_names}")
        labels, attack_types = ds["label"], ds["attack_type"]
        for i, (label, attack_type) in enumerate(zip(labels, attack_types)):
            check_record({"label": label, "attack_type": attack_type}, where=f"{name} row {i}")
