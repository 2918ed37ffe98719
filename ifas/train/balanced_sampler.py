"""Training order in which live and spoof rows alternate, so every batch of an even size holds as many of each.

With small batches drawn at random, the share of live rows swings from batch to batch (all-spoof batches of 4 are
common at a 40/60 split), and so does the gradient on the Yes/No prior: at a high learning rate the judgment flips
between "always Yes" and "always No" instead of reading the image. Alternating the two classes (the minority is
cycled, each pass in a fresh seeded order) keeps that gradient balanced in every batch — the balanced live/spoof
batches FAS training commonly uses.

Example:
    >>> labels = [1, 1, 1, 0, 1, 0]
    >>> order = list(LabelBalancedSampler(labels, seed=0))
    >>> [labels[i] for i in order]  # live (0) and spoof (1) alternate; the two live rows are drawn again
    [0, 1, 0, 1, 0, 1]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from datasets_scripts.contract import LABEL_LIVE


class LabelBalancedSampler(Sampler[int]):
    """`len(labels)` indices per epoch, live and spoof alternating (live first); `set_epoch` reshuffles."""

    def __init__(self, labels: Sequence[int], seed: int = 0):
        self.live = [i for i, label in enumerate(labels) if label == LABEL_LIVE]
        self.spoof = [i for i, label in enumerate(labels) if label != LABEL_LIVE]
        if not self.live or not self.spoof:
            raise ValueError(f"balanced batches need live and spoof rows; got {len(self.live)} live and "
                             f"{len(self.spoof)} spoof")
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.live) + len(self.spoof)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        streams = [self._cycle(group, generator) for group in (self.live, self.spoof)]
        for position in range(len(self)):
            yield next(streams[position % 2])

    @staticmethod
    def _cycle(group: list[int], generator: torch.Generator) -> Iterator[int]:
        """`group` in a fresh random order on every pass, endlessly."""
        while True:
            for index in torch.randperm(len(group), generator=generator).tolist():
                yield group[index]
