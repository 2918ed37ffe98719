"""Compute a frozen vision tower once per image: a memo of `IFASModel.encode_images` keyed by the pixels.

With the tower frozen (the default of `train_sft.py` and the demo), its per-layer outputs for an image never change,
so every epoch, every evaluation and every seed can reuse them. `VisionFeatureCache` stores what the connectors read
(`global_tokens`, one per tapped layer, and the patch features) for each distinct `pixel_values` row and computes
only the rows it has not seen; `attach` makes a model (also PEFT-wrapped) use it transparently in `forward`, `score`,
`judge` and `generate`. A cache belongs to one frozen tower read at the same layers: attaching it to a model whose
tower, `vision_feature_layer` or GAC `tapped_layers` differ raises.

The entries keep the dtype the tower computed them in (bf16 under bf16 autocast) and at most `max_bytes` of them are
kept (least recently used evicted; `--vision_cache_gib` of `train_sft.py`), per process. A sharded tower (DeepSpeed
ZeRO-3, FSDP) is refused: each forward through it is a collective (all-gather of its weights), and ranks whose cache
hits differ would stop calling it in step (a hang, or "collective mismatch" under gloo).

Example:
    >>> cache = VisionFeatureCache()  # doctest: +SKIP
    >>> cache.attach(model)                  # the tower must be frozen  # doctest: +SKIP
    >>> p1 = model.score(processor, images)  # runs the tower  # doctest: +SKIP
    >>> p2 = model.score(processor, images)  # reads the cache: same scores, no tower forward  # doctest: +SKIP
    >>> cache.detach(model)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

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


def read_layers(config) -> tuple:
    """What `encode_images` reads from the tower's hidden states: the cached entries hold exactly this."""
    return (config.vision_feature_layer, config.vision_feature_select_strategy,
            config.tapped_layers if config.use_gac else None, config.gac_global_pool)


def is_sharded(parameter: torch.Tensor) -> bool:
    """True for a parameter sharded across ranks: an FSDP2 `DTensor` or a DeepSpeed ZeRO-3 partition (`ds_id`)."""
    from torch.distributed.tensor import DTensor

    return isinstance(parameter, DTensor) or hasattr(parameter, "ds_id")


def _entry_bytes(entry: tuple[torch.Tensor | None, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in entry if t is not None)


class VisionFeatureCache:
    """Memo of `encode_images` per pixel row; `hits` and `misses` count rows served from it and computed.

    `storage_dtype`: the dtype entries are kept in (None: as computed); `max_bytes`: the bound on the entries' size
    (None: unbounded), least recently used evicted first."""

    def __init__(self, storage_dtype: torch.dtype | None = None, max_bytes: int | None = 4 * 2**30):
        self.storage_dtype = storage_dtype
        self.max_bytes = max_bytes
        self.entries: OrderedDict[bytes, tuple[torch.Tensor | None, torch.Tensor]] = OrderedDict()
        self.nbytes = 0
        self.fingerprint: str | None = None
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)

    def attach(self, model: nn.Module) -> nn.Module:
        """Route `model`'s `encode_images` through the cache; the tower must be frozen and match the cache's."""
        inner = _inner_model(model)
        if any(is_sharded(p) for p in inner.vision_tower.parameters()):
            raise ValueError("VisionFeatureCache cannot serve a sharded vision tower (DeepSpeed ZeRO-3, FSDP): its "
                             "forward is a collective that every rank must run in step; train without "
                             "--cache_vision_features, or under DDP / ZeRO-2")
        if any(p.requires_grad for p in inner.vision_tower.parameters()):
            raise ValueError("VisionFeatureCache needs a frozen vision tower (its outputs would change as it trains)")
        fingerprint = tower_fingerprint(inner.vision_tower) + repr(read_layers(inner.config))
        if self.fingerprint not in (None, fingerprint):
            raise ValueError("this VisionFeatureCache holds features of another vision tower or of other layers "
                             "(vision_feature_layer, gac_layers): use a new cache")
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
        computed = {}
        if missing:
            with torch.no_grad():
                global_tokens, patch_features = compute(pixel_values[missing])
            for j, i in enumerate(missing):
                computed[keys[i]] = (
                    None if global_tokens is None else global_tokens[j].to("cpu", self.storage_dtype).clone(),
                    patch_features[j].to("cpu", self.storage_dtype).clone(),
                )
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = [computed[key] if key in computed else self.entries[key] for key in keys]
        for key in keys:
            if key in self.entries:
                self.entries.move_to_end(key)
        for key, entry in computed.items():
            self._store(key, entry)
        dtype, device = pixel_values.dtype, pixel_values.device
        patch = torch.stack([p.to(dtype) for _, p in rows]).to(device)
        if rows[0][0] is None:
            return None, patch
        return torch.stack([g.to(dtype) for g, _ in rows]).to(device), patch

    def _store(self, key: bytes, entry: tuple[torch.Tensor | None, torch.Tensor]) -> None:
        """Keep `entry`, evicting the least recently used entries beyond `max_bytes`."""
        if key in self.entries:
            return
        self.entries[key] = entry
        self.nbytes += _entry_bytes(entry)
        while self.max_bytes is not None and self.nbytes > self.max_bytes and self.entries:
            _, evicted = self.entries.popitem(last=False)
            self.nbytes -= _entry_bytes(evicted)
