"""The demo's plain binary baseline: the same frozen vision tower as I-FAS, a linear live/spoof head, BCE loss.

It trains with the same frozen tower, images, batch size, number of steps and seed as the I-FAS run, so the demo
table compares the VQA formulation (GAC + L-LM + captions) against a bare score. Its input is the last layer's
global token and mean patch feature, standardised with the training set's mean and standard deviation (the same
data-dependent standardisation I-FAS's connector gets, see `ifas.train.connector_init`).

Example:
    >>> baseline = BinaryBaseline(ifas_model, processor)  # doctest: +SKIP
    >>> losses = baseline.fit(train_dataset, steps=10, batch_size=4)  # doctest: +SKIP
    >>> p_live = baseline.score(images)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from datasets_scripts.contract import LABEL_LIVE


class BinaryBaseline(nn.Module):
    """Frozen tower → standardised [last global token, mean patch feature] → Linear → logit of P(live)."""

    def __init__(self, ifas_model: nn.Module, processor):
        super().__init__()
        self.encoder = ifas_model.model
        self.processor = processor
        width = ifas_model.config.vision_config.hidden_size
        features = width * (2 if self.encoder.gac is not None else 1)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.head = nn.Linear(features, 1)

    def features(self, images) -> torch.Tensor:
        pixel_values = self.processor.prepare_inputs(list(images), crop_faces=False)["pixel_values"]  # face crops
        with torch.no_grad():
            global_tokens, patch_features = self.encoder.encode_images(pixel_values)
        parts = [patch_features.float().mean(1)]
        if global_tokens is not None:
            parts.insert(0, global_tokens[:, -1].float())
        return (torch.cat(parts, dim=-1) - self.mean) / self.std

    def fit(self, dataset, steps: int, batch_size: int, lr: float = 1e-3, seed: int = 0) -> list[float]:
        """Standardise on `dataset`, then train the head for `steps` steps of `batch_size` rows drawn (seeded, with
        reshuffling) from it."""
        self.mean.zero_(), self.std.fill_(1.0)
        raw = torch.cat([self.features(dataset[i : i + 16]["image"]) for i in range(0, len(dataset), 16)])
        self.mean.copy_(raw.mean(0)), self.std.copy_(raw.std(0) + 1e-6)
        inputs = (raw - self.mean) / self.std  # the tower is frozen: each image's features are computed once
        targets = torch.tensor([1.0 if label == LABEL_LIVE else 0.0 for label in dataset["label"]])
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(self.head.parameters(), lr=lr)
        epochs = -(-steps * batch_size // len(dataset))
        order = torch.cat([torch.randperm(len(dataset), generator=generator) for _ in range(epochs)])
        losses = []
        for step in range(steps):
            rows = order[step * batch_size : (step + 1) * batch_size]
            target = targets[rows]
            logits = self.head(inputs[rows]).squeeze(-1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        return losses

    @torch.no_grad()
    def score(self, images, batch_size: int = 16) -> torch.Tensor:
        """P(live) per image; raises `ValueError` naming an unreadable image."""
        chunks = [torch.sigmoid(self.head(self.features(images[i : i + batch_size])).squeeze(-1))
                  for i in range(0, len(images), batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0)
