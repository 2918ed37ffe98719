"""Compute a frozen vision tower once per image: a memo of `IFASModel.encode_images` keyed by the pixels.

With the tower frozen (the default of `train_sft.py` and the demo), its per-layer outputs for an image never change,
so every epoch, every evaluation and every seed can reuse them. `VisionFeatureCache` stores what the connectors read
(`global_tokens`, one per tapped layer, and the patch features) for each distinct `pixel_values` row and computes
only the rows it has not seen; `attach` makes a model (also PEFT-wrapped) use it transparently in `forward`, `score`,
`judge` and `generate`. A cache belongs to one frozen tower: attaching it to a model whose tower differs raises.

Example:
    >>> cache = VisionFeatureCache()  # doctest: +SKIP
    >>> cache.attach(model)                  # the tower must be frozen  # doctest: +SKIP
    >>> p1 = model.score(processor, images)  # runs the tower  # doctest: +SKIP
    >>> p2 = model.score(processor, images)  # reads the cache: same scores, no tower forward  # doctest: +SKIP
    >>> cache.detach(model)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def _inner_model(model: nn.Module) -> nn.Module:
    """The `IFASModel` (the module with `encode_images`) inside an I-FAS model, PEFT-wrapped or not."""
    for module in model.modules():
        if hasattr(type(module), "encode_images"):
            return module
    raise TypeError(f"{type(model).__name__} has no I-FAS vision encoder (encode_images)")


def tower_fingerprint(tower: nn.Module) -> str:
    """A digest of a tower's parameters (names, shapes and a strided sample of values)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, parameter in tower.named_parameters():
        sample = parameter.detach().flatten()[:: max(1, parameter.numel() // 64)].float().cpu()
        digest.update(name.encode() + str(tuple(parameter.shape)).encode() + sample.numpy().tobytes())
    return digest.hexdigest()


class VisionFeatureCache:
    """Memo of `encode_images` per pixel row; `hits` and `misses` count rows served from it and computed."""

    def __init__(self, storage_dtype: torch.dtype = torch.float32):
        self.storage_dtype = storage_dtype
        self.entries: dict[bytes, tuple[torch.Tensor | None, torch.Tensor]] = {}
        self.fingerprint: str | None = None
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)

    def attach(self, model: nn.Module) -> nn.Module:
        """Route `model`'s `encode_images` through the cache; the tower must be frozen and match the cache's."""
        inner = _inner_model(model)
        if any(p.requires_grad for p in inner.vision_tower.parameters()):
            raise ValueError("VisionFeatureCache needs a frozen vision tower (its outputs would change as it trains)")
        fingerprint = tower_fingerprint(inner.vision_tower)
        if self.fingerprint not in (None, fingerprint):
            raise ValueError("this VisionFeatureCache holds features of another vision tower: use a new cache")
        self.fingerprint = fingerprint
        compute = type(inner).encode_images.__get__(inner)
        inner.encode_images = lambda pixel_values: self.encode(compute, pixel_values)
        return model

    @staticmethod
    def detach(model: nn.Module) -> nn.Module:
        """Let `model` run its tower again."""
        inner = _inner_model(model)
        inner.__dict__.pop("encode_images", None)
        return model

    def encode(self, compute, pixel_values: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """`compute(pixel_values)` for the rows not seen before; all rows' features stacked, on the input's device."""
        keys = [hashlib.blake2b(row.detach().float().cpu().numpy().tobytes(), digest_size=20).digest()
                for row in pixel_values]
        missing = [i for i, key in enumerate(keys) if key not in self.entries]
        if missing:
            with torch.no_grad():
                global_tokens, patch_features = compute(pixel_values[missing])
            for j, i in enumerate(missing):
                self.entries[keys[i]] = (
                    None if global_tokens is None else global_tokens[j].to("cpu", self.storage_dtype).clone(),
                    patch_features[j].to("cpu", self.storage_dtype).clone(),
                )
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = [self.entries[key] for key in keys]
        dtype, device = pixel_values.dtype, pixel_values.device
        patch = torch.stack([p for _, p in rows]).to(device, dtype)
        if rows[0][0] is None:
            return None, patch
        return torch.stack([g for g, _ in rows]).to(device, dtype), patch
