"""The demo's plain binary baseline: the same vision tower as I-FAS, a linear live/spoof head, BCE loss.

It trains with the same frozen tower, images, batch size and number of steps as the I-FAS run, so the demo table
compares the VQA formulation (GAC + L-LM + captions) against a bare score.

Example:
    >>> baseline = BinaryBaseline(tower, image_processor)  # doctest: +SKIP
    >>> losses = baseline.fit(train_dataset, steps=10, batch_size=4)  # doctest: +SKIP
    >>> p_live = baseline.score(images)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from datasets_scripts.contract import LABEL_LIVE
from processing_ifas import load_image


class BinaryBaseline(nn.Module):
    """Vision tower (frozen) → [CLS, mean patch] of the last layer → Linear → logit of P(live)."""

    def __init__(self, vision_tower: nn.Module, image_processor):
        super().__init__()
        self.vision_tower = vision_tower.requires_grad_(False).eval()
        self.image_processor = image_processor
        self.head = nn.Linear(2 * vision_tower.config.hidden_size, 1)

    def pixel_values(self, images) -> torch.Tensor:
        rgb = [load_image(image) for image in images]
        return self.image_processor(rgb, return_tensors="pt")["pixel_values"]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            hidden = self.vision_tower(pixel_values).last_hidden_state
        features = torch.cat([hidden[:, 0], hidden[:, 1:].mean(1)], dim=-1)
        return self.head(features).squeeze(-1)

    def fit(self, dataset, steps: int, batch_size: int, lr: float = 1e-3, seed: int = 0) -> list[float]:
        """Train the head for `steps` steps of `batch_size` rows drawn (seeded, with reshuffling) from `dataset`."""
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(self.head.parameters(), lr=lr)
        epochs = -(-steps * batch_size // len(dataset))
        order = torch.cat([torch.randperm(len(dataset), generator=generator) for _ in range(epochs)]).tolist()
        losses = []
        for step in range(steps):
            rows = dataset.select(order[step * batch_size : (step + 1) * batch_size])
            target = torch.tensor([1.0 if label == LABEL_LIVE else 0.0 for label in rows["label"]])
            loss = nn.functional.binary_cross_entropy_with_logits(self(self.pixel_values(rows["image"])), target)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        return losses

    @torch.no_grad()
    def score(self, images, batch_size: int = 16) -> torch.Tensor:
        """P(live) per image; raises `ValueError` naming an unreadable image."""
        chunks = [torch.sigmoid(self(self.pixel_values(images[i : i + batch_size])))
                  for i in range(0, len(images), batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0)
