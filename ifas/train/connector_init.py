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

A third fact makes the LLM slow to learn the judgment: the live/spoof direction is a small part of the visual
tokens' variance (a linear probe on the tower's per-layer global tokens separates held-out SynthFAS at AUC 0.999,
yet 100 LoRA steps find it only partly). `warm_start_connector` is a connector-only stage before LoRA, in the spirit
of LLaVA's projector pre-training but without the LLM: the GAC and a temporary linear probe on its mean output token
learn each image's class (live, or its attack type) from the frozen tower's features (milliseconds a step), so the
live/spoof and attack-family directions are prominent in the tokens the LLM reads; then the output norm is matched
to the embeddings again.

Example:
    >>> stats = calibrate_connector(model, pixel_values)      # a few dozen training images  # doctest: +SKIP
    >>> round(stats["token_norm"], 2) == round(stats["embedding_norm"], 2)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import torch
from torch import nn

from ifas.train.vision_cache import _inner_model


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
    return match_output_norm(inner, global_tokens, patch_features)


@torch.no_grad()
def match_output_norm(inner: nn.Module, global_tokens: torch.Tensor, patch_features: torch.Tensor) -> dict[str, float]:
    """Rescale the GAC's `out_proj` so its tokens for these features have the LLM's mean input-embedding norm."""
    gac = inner.gac
    dtype = gac.out_proj.weight.dtype
    before = gac(global_tokens.to(dtype), patch_features.to(dtype)).norm(dim=-1).mean()
    embedding_norm = inner.get_input_embeddings().weight.float().norm(dim=-1).mean()
    gac.out_proj.weight.mul_(embedding_norm / before)
    gac.out_proj.bias.mul_(embedding_norm / before)
    after = gac(global_tokens.to(dtype), patch_features.to(dtype)).norm(dim=-1).mean()
    return {"token_norm_before": float(before), "token_norm": float(after), "embedding_norm": float(embedding_norm)}


@torch.no_grad()
def encode_images(model: nn.Module, processor, images, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen tower's (global tokens, patch features) of `images` (model inputs already: face crops), in chunks
    of `batch_size` (through a `VisionFeatureCache` when one is attached)."""
    inner = _inner_model(model)
    parameter = next(inner.vision_tower.parameters())
    encoded = []
    for start in range(0, len(images), batch_size):
        pixel_values = processor.prepare_inputs(list(images[start : start + batch_size]), crop_faces=False)
        encoded.append(inner.encode_images(pixel_values["pixel_values"].to(parameter.device, parameter.dtype)))
    return torch.cat([g for g, _ in encoded]), torch.cat([p for _, p in encoded])


def warm_start_connector(model: nn.Module, global_tokens: torch.Tensor, patch_features: torch.Tensor,
                         classes: torch.Tensor, steps: int, lr: float = 1e-3, batch_size: int = 32, seed: int = 0
                         ) -> dict[str, float]:
    """Train the GAC with a temporary linear probe on its mean output token that predicts each image's class
    (`classes`: 0 for live, one index per attack type; cross-entropy, AdamW, `steps` steps of `batch_size` rows drawn
    from the tower features `global_tokens`, `patch_features`), then match its output norm to the LLM's
    embeddings. Returns the probe's first and last loss and its final accuracy on these images."""
    inner = _inner_model(model)
    gac = inner.gac
    if gac is None or steps < 1:
        return {}
    classes = classes.to(global_tokens.device).long()
    probe = nn.Linear(gac.out_proj.out_features, int(classes.max()) + 1).to(global_tokens.device, global_tokens.dtype)
    trainable = [p for p in gac.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable + list(probe.parameters()), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    gac.train()
    for _ in range(steps):
        rows = torch.randint(len(classes), (min(batch_size, len(classes)),), generator=generator)
        loss = nn.functional.cross_entropy(probe(gac(global_tokens[rows], patch_features[rows]).mean(1)), classes[rows])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    with torch.no_grad():
        accuracy = (probe(gac(global_tokens, patch_features).mean(1)).argmax(-1) == classes).float().mean()
    stats = match_output_norm(inner, global_tokens, patch_features)
    return {"probe_loss_first": losses[0], "probe_loss_last": losses[-1], "probe_accuracy": float(accuracy), **stats}
