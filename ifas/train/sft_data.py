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
from validation_ifas import control_tokens

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
    """Collates contract rows into right-padded training batches for `IFASSFTTrainer`.

    Each row is rendered whole with the processor's own chat template (`build_conversation`) and tokenized once;
    the supervised span is what follows the tokenized prompt, which must be a prefix of it. So the judgment token
    is the id `score()` reads after the prompt, whatever the tokenizer (byte-level BPE, SentencePiece) and template
    (ChatML, LLaVA-1.5's `USER: ... ASSISTANT:`, Llama-3), BOS comes as the tokenizer adds it, and the turn ends
    with the template's own end-of-turn token.
    """

    def __init__(self, processor, max_length: int | None = None):
        self.processor = processor
        self.max_length = max_length
        self.prompt = processor.build_prompt()
        self.prompt_ids = processor.encode_text(self.prompt)
        self.control_tokens = control_tokens(processor.tokenizer, processor.image_token)

    def tokenize(self, row: dict) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one row, with `<image>` expanded; no image is read. A caption with a chat control
        token or the image token is a `ValueError` naming the row (`check_captions` finds them all up front)."""
        caption = (row.get("caption") or "").strip()
        found = sorted(token for token in self.control_tokens if token in caption)
        if found:
            raise ValueError(f"row {row.get('video_id', '?')}: the caption contains chat control token(s) or the "
                             f"image token {found}; remove them (they would train as turn markers or image slots)")
        answer = answer_text(row["label"], caption, self.processor.judgment_words)
        input_ids = self.processor.encode_text(self.processor.build_conversation(answer))
        n_prompt = len(self.prompt_ids)
        if input_ids[:n_prompt] != self.prompt_ids:
            tokenizer = self.processor.tokenizer
            raise ValueError(
                f"row {row.get('video_id', '?')}: the prompt's tokens are not a prefix of the whole conversation's; "
                f"the prompt ends {tokenizer.convert_ids_to_tokens(self.prompt_ids[-3:])}, the conversation has "
                f"{tokenizer.convert_ids_to_tokens(input_ids[n_prompt - 3 : n_prompt + 1])} there (a token merges "
                "across the answer boundary)"
            )
        answer_ids = input_ids[n_prompt:]
        supervised = answer_ids if caption else answer_ids[:1] + [-100] * (len(answer_ids) - 1)
        return input_ids, [-100] * n_prompt + supervised

    def encode(self, row: dict) -> tuple[list[int], list[int], dict]:
        """(input_ids, labels, image inputs) of one row."""
        input_ids, labels = self.tokenize(row)
        if self.max_length is not None and len(input_ids) > self.max_length:
            raise ValueError(
                f"row {row.get('video_id', '?')}: {len(input_ids)} tokens exceed max_length={self.max_length} "
                f"(prompt {len(self.prompt_ids)}, answer {len(input_ids) - len(self.prompt_ids)}); shorten the caption "
                "or raise max_length"
            )
        image = self.processor(images=[row["image"]], crop_faces=False)  # training rows are face crops already
        return input_ids, labels, {"pixel_values": image["pixel_values"][0]}

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


def check_judgment_tokens(collator: IFASCollator, rows, judgment_token_ids) -> None:
    """Raise unless the first supervised token of each row is the live/spoof id that `score()` reads
    (`judgment_token_ids`, the model's `config.judgment_token_ids`), naming both token pieces.

    >>> check_judgment_tokens(collator, [row_live, row_spoof], model.config.judgment_token_ids)  # doctest: +SKIP
    """
    tokenizer = collator.processor.tokenizer
    for row in rows:
        _, labels = collator.tokenize(row)
        trained = next(token for token in labels if token != -100)
        read = int(judgment_token_ids[0 if row["label"] == LABEL_LIVE else 1])
        if trained != read:
            trained_piece, read_piece = tokenizer.convert_ids_to_tokens([trained, read])
            raise ValueError(
                f"row {row.get('video_id', '?')} (label {row['label']}): training supervises {trained_piece!r} "
                f"(id {trained}) as the judgment token, but score() reads P(live) from {read_piece!r} (id {read}); "
                "the tokenizer merges the judgment word with what follows it, or config.judgment_token_ids is stale "
                "(recompute it with processor.judgment_token_ids())"
            )


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


def check_captions(dataset: Dataset, collator: IFASCollator, where: str = "train") -> None:
    """Raise before training when any caption of `dataset` contains a chat control token (``<|im_start|>``,
    ``<|im_end|>``, the tokenizer's special tokens) or the image token, naming the rows.

    >>> check_captions(Dataset.from_dict({"caption": ["Paper.", "Paper.<|im_end|>"], "video_id": ["a", "b"]}),
    ...                collator)  # doctest: +SKIP
    Traceback (most recent call last):
    ValueError: train: 1 row(s) have a caption with chat control token(s) or the image token (row 1, video_id 'b': ...
    """
    video_ids = dataset["video_id"] if "video_id" in dataset.column_names else [None] * len(dataset)
    bad = []
    for i, caption in enumerate(dataset["caption"]):
        found = sorted(token for token in collator.control_tokens if caption and token in caption)
        if found:
            bad.append(f"row {i}, video_id {video_ids[i]!r}: {found}")
    if bad:
        raise ValueError(
            f"{where}: {len(bad)} row(s) have a caption with chat control token(s) or the image token "
            f"({'; '.join(bad[:5])}{'; ...' if len(bad) > 5 else ''}); remove them from the captions (they would "
            "train as turn markers or image slots)"
        )


def check_lengths(dataset: Dataset, collator: IFASCollator) -> None:
    """Raise before training when any row's prompt + answer exceeds the collator's max_length."""
    if collator.max_length is None:
        return
    too_long = []
    for i, (label, caption) in enumerate(zip(dataset["label"], dataset["caption"])):
        length = len(collator.tokenize({"label": label, "caption": caption})[0])
        if length > collator.max_length:
            too_long.append((i, length))
    if too_long:
        raise ValueError(
            f"{len(too_long)} row(s) exceed max_length={collator.max_length} tokens (first: row {too_long[0][0]} "
            f"with {too_long[0][1]}); shorten the captions or raise --max_length"
        )
