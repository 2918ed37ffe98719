"""Data-dependent initialisation of a fresh GAC, so that the LLM can read it from the first step.

Two facts make a randomly initialised GAC hard to train on a frozen tower and LLM:
- the per-layer global tokens of a pretrained ViT differ across images by a small fraction of their norm (DINOv2-S:
  about 10% in the early layers) and their norms span orders of magnitude across layers (1 to 30), so a random
  `Q_V = Linear(G_V)` passes the LLM nearly the same tokens for every image;
- the GAC's output norm (about 10 for a 0.02-std projection) is far from the LLM's token embedding norm (about 3
  for SmolLM2), and visual tokens at the wrong scale disturb the LLM (a known cause of collapse).
`calibrate_connector` standardises each tapped layer's global token with the mean and standard deviation over
a set of training images (the GAC's `global_shift` / `global_scale`, an affine re-parametrisation of the same
linear map) and rescales `out_proj` so that the visual tokens have the mean norm of the LLM's input embeddings.

Example:
    >>> stats = calibrate_connector(model, pixel_values)      # a few dozen training images  # doctest: +SKIP
    >>> round(stats["token_norm"], 2) == round(stats["embedding_norm"], 2)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import torch
from torch import nn

from ifas_train.vision_cache import _inner_model


@torch.no_grad()
def calibrate_connector(model: nn.Module, pixel_values: torch.Tensor, batch_size: int = 16, eps: float = 1e-6
                        ) -> dict[str, float]:
    """Standardise the GAC's global tokens and match its output norm to the LLM's embeddings, from `pixel_values`
    (N, 3, H, W) of training images. Returns the norms before and after; a no-op for a model without GAC."""
    inner = _inner_model(model)
    gac = inner.gac
    if gac is None:
        return {}
    if len(pixel_values) < 2:
        raise ValueError("calibrate_connector needs at least 2 images to estimate a standard deviation")
    encoded = [inner.encode_images(pixel_values[i : i + batch_size]) for i in range(0, len(pixel_values), batch_size)]
    global_tokens = torch.cat([g for g, _ in encoded]).float()
    patch_features = torch.cat([p for _, p in encoded])
    gac.global_shift.copy_(global_tokens.mean(0))
    gac.global_scale.copy_(1.0 / (global_tokens.std(0) + eps))
    dtype = gac.out_proj.weight.dtype
    before = gac(global_tokens.to(dtype), patch_features.to(dtype)).norm(dim=-1).mean()
    embedding_norm = inner.get_input_embeddings().weight.float().norm(dim=-1).mean()
    gac.out_proj.weight.mul_(embedding_norm / before)
    gac.out_proj.bias.mul_(embedding_norm / before)
    after = gac(global_tokens.to(dtype), patch_features.to(dtype)).norm(dim=-1).mean()
    return {"token_norm_before": float(before), "token_norm": float(after), "embedding_norm": float(embedding_norm)}
