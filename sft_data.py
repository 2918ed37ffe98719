"""Training data for I-FAS: contract rows → one VQA conversation each → padded tensors with masked labels.

A row of the data contract (`datasets_scripts/contract.py`) becomes

    user:      <image> Is this photo of a real person?
    assistant: No. The face is printed on paper: ...            (caption present)
    assistant: No                                                (empty caption: the judgment alone)

Labels: -100 on the prompt and image tokens; the first answer token is the judgment (Yes/No); the rest of the answer
(separator, caption, end-of-turn) is the interpretation. With an empty caption only the judgment token is supervised.

Example:
    >>> collator = IFASCollator(processor)  # doctest: +SKIP
    >>> batch = collator([row_a, row_b])     # input_ids, attention_mask, pixel_values, labels  # doctest: +SKIP
"""

from __future__ import annotations

import logging

import torch
from datasets import Dataset, concatenate_datasets, load_from_disk
from datasets import Image as ImageFeature

from datasets_scripts.contract import LABEL_LIVE, LABELS, check_dataset
from processing_ifas import load_image

logger = logging.getLogger(__name__)


def answer_text(label: int, caption: str, judgment_words=("Yes", "No")) -> str:
    """The assistant answer: the judgment word, then the caption when there is one.

    >>> answer_text(1, "The face is printed on paper.")
    'No. The face is printed on paper.'
    """
    if label not in LABELS:
        raise ValueError(f"label {label!r} is not 0 (live) or 1 (spoof)")
    word = judgment_words[0] if label == LABEL_LIVE else judgment_words[1]
    caption = (caption or "").strip()
    return f"{word}. {caption}" if caption else word


class IFASCollator:
    """Collates contract rows into right-padded training batches for `IFASSFTTrainer`."""

    def __init__(self, processor, max_length: int | None = None):
        self.processor = processor
        self.max_length = max_length
        self.prompt = processor.build_prompt()
        self.end_of_turn = "<|im_end|>\n"

    def encode(self, row: dict) -> tuple[list[int], list[int], dict]:
        """(input_ids, labels, image inputs) of one row."""
        prompt = self.processor(images=[row["image"]], text=self.prompt, add_special_tokens=False)
        prompt_ids = prompt["input_ids"][0]
        caption = (row.get("caption") or "").strip()
        answer = answer_text(row["label"], caption, self.processor.judgment_words)
        tokenizer = self.processor.tokenizer
        answer_ids = tokenizer(answer + self.end_of_turn, add_special_tokens=False)["input_ids"]
        labels = list(answer_ids) if caption else answer_ids[:1] + [-100] * (len(answer_ids) - 1)
        input_ids = list(prompt_ids) + list(answer_ids)
        labels = [-100] * len(prompt_ids) + labels
        if self.max_length is not None and len(input_ids) > self.max_length:
            raise ValueError(
                f"row {row.get('video_id', '?')}: {len(input_ids)} tokens exceed max_length={self.max_length} "
                f"(prompt {len(prompt_ids)}, answer {len(answer_ids)}); shorten the caption or raise max_length"
            )
        return input_ids, labels, {"pixel_values": prompt["pixel_values"][0]}

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        encoded = [self.encode(row) for row in rows]
        width = max(len(ids) for ids, _, _ in encoded)
        pad_id = self.processor.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, row_labels, _) in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(ids)] = torch.tensor(row_labels)
            attention_mask[i, : len(ids)] = 1
        pixel_values = torch.stack([torch.as_tensor(image["pixel_values"]) for _, _, image in encoded])
        return {"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values,
                "labels": labels}


def load_training_split(paths: list[str], split: str) -> Dataset:
    """Concatenate `split` of several saved contract DatasetDicts; raise naming the folder that lacks it."""
    parts = []
    for path in paths:
        dataset_dict = load_from_disk(path)
        check_dataset(dataset_dict, where=path)
        if split not in dataset_dict:
            raise ValueError(f"{path}: no split {split!r} (has {list(dataset_dict)})")
        parts.append(dataset_dict[split])
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def drop_unreadable_images(dataset: Dataset, where: str = "dataset") -> tuple[Dataset, list[str]]:
    """Decode every image once; drop the rows that fail and return them as 'row i: reason' strings."""
    raw = dataset.cast_column("image", ImageFeature(decode=False))
    problems, keep = [], []
    for i, image in enumerate(raw["image"]):
        try:
            load_image(image)
            keep.append(i)
        except ValueError as error:
            problems.append(f"{where} row {i}: {error}")
    for problem in problems:
        logger.warning("skipping unreadable image: %s", problem)
    return (dataset.select(keep) if problems else dataset), problems


def check_lengths(dataset: Dataset, collator: IFASCollator) -> None:
    """Raise before training when any row's prompt + answer exceeds the collator's max_length."""
    if collator.max_length is None:
        return
    prompt_length = len(collator.processor(images=None, text=collator.prompt.replace(
        collator.processor.image_token, ""), add_special_tokens=False)["input_ids"][0])
    prompt_length += collator.processor.num_image_tokens
    tokenizer = collator.processor.tokenizer
    too_long = []
    for i, (label, caption) in enumerate(zip(dataset["label"], dataset["caption"])):
        answer = answer_text(label, caption, collator.processor.judgment_words) + collator.end_of_turn
        length = prompt_length + len(tokenizer(answer, add_special_tokens=False)["input_ids"])
        if length > collator.max_length:
            too_long.append((i, length))
    if too_long:
        raise ValueError(
            f"{len(too_long)} row(s) exceed max_length={collator.max_length} tokens (first: row {too_long[0][0]} "
            f"with {too_long[0][1]}); shorten the captions or raise --max_length"
        )
