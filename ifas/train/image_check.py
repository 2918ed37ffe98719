"""Decode every training image once before training, the work split across the processes of a distributed run.

`ifas.train.sft_data.drop_unreadable_images` decodes the whole set; run on every rank of an 8-GPU job that is 8 decodes of each
image. `drop_unreadable_images_across_ranks` lets each rank decode every `world_size`-th row, all-gathers the
unreadable rows, and every rank drops the same ones (the ranks must agree on the dataset they shard).

Example:
    >>> train, skipped = drop_unreadable_images_across_ranks(train, "train")  # doctest: +SKIP
"""

from __future__ import annotations

import logging

import torch.distributed as dist
from datasets import Dataset
from datasets import Image as ImageFeature

from processing_ifas import load_image
from ifas.train.sft_data import drop_unreadable_images

logger = logging.getLogger(__name__)


def drop_unreadable_images_across_ranks(dataset: Dataset, where: str = "dataset") -> tuple[Dataset, list[str]]:
    """`drop_unreadable_images` (the rows whose image fails to decode dropped, 'row i: reason' returned), each
    process decoding its share; a collective under torch.distributed: call on every rank."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return drop_unreadable_images(dataset, where)
    rows = range(dist.get_rank(), len(dataset), dist.get_world_size())
    raw = dataset.select(rows).cast_column("image", ImageFeature(decode=False))
    mine = []
    for row, image in zip(rows, raw["image"]):
        try:
            load_image(image)
        except ValueError as error:
            mine.append((row, f"{where} row {row}: {error}"))
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    problems = sorted(problem for rank_problems in gathered for problem in rank_problems)
    for _, problem in problems:
        logger.warning("skipping unreadable image: %s", problem)
    unreadable = {row for row, _ in problems}
    kept = dataset.select([i for i in range(len(dataset)) if i not in unreadable]) if unreadable else dataset
    return kept, [problem for _, problem in problems]
