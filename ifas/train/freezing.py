"""Which I-FAS parameters never receive a gradient, decided from the module structure (no forward pass).

I-FAS reads the vision tower only through `hidden_states[i]` for the indices in `vision_feature_layer` and, with
GAC, `tapped_layers`. `hidden_states[i]` is the output of the first `i` encoder layers (index 0: the embeddings), so
the layers past the deepest index and every module the tower registers after its layer list (final norm, pooler,
SigLIP's attention-pooling head) are never read: LLaVA's `vision_feature_layer=-2` leaves the last layer and the
post-layernorm unused (TRL #1936). A tower's `mask_token` is read only with `bool_masked_pos`, which I-FAS never
passes. With `gac_mode="replace"` the MLP projector's tokens are dropped, so the projector is unused too.

Nothing here touches a tensor's data: it works on meta, ZeRO-3-partitioned and FSDP-sharded parameters alike.

Example:
    >>> from ifas.model_builders import tiny_ifas
    >>> model, _ = tiny_ifas("clip", vision_feature_layer=-2, gac_layers=[1])
    >>> names = unused_parameter_names(model)          # the last layer (layers.1) and the post-layernorm
    >>> [name for name in names if ".layers.1." not in name]
    ['model.vision_tower.post_layernorm.weight', 'model.vision_tower.post_layernorm.bias']
    >>> any(".layers.0." in name for name in names)
    False
"""

from __future__ import annotations

from torch import nn

MASK_TOKEN_NAMES = ("mask_token",)


def deepest_vision_layer(config) -> int:
    """The largest index into the tower's `hidden_states` that I-FAS reads (negative indices resolved)."""
    total = config.vision_config.num_hidden_layers
    layers = config.vision_feature_layer
    indices = [layers] if isinstance(layers, int) else list(layers)
    if config.use_gac:
        indices += config.tapped_layers
    resolved = [i + total + 1 if i < 0 else i for i in indices]
    bad = [i for i, r in zip(indices, resolved) if not 0 <= r <= total]
    if bad:
        raise ValueError(f"vision layer index {bad[0]} is out of range for a tower of {total} layers "
                         "(vision_feature_layer / gac_layers index hidden_states[0..num_hidden_layers])")
    return max(resolved)


def _layer_list(tower: nn.Module, num_layers: int) -> str:
    """The dotted name of the tower's one `ModuleList` of `num_layers` encoder layers."""
    names = [name for name, module in tower.named_modules()
             if isinstance(module, nn.ModuleList) and len(module) == num_layers]
    if len(names) != 1:
        raise ValueError(f"{type(tower).__name__}: expected one ModuleList of its {num_layers} layers, found "
                         f"{names or 'none'}; cannot tell which vision parameters are unused")
    return names[0]


def unused_vision_parameters(tower: nn.Module, num_layers: int, deepest: int) -> list[str]:
    """Names (relative to `tower`) of the parameters that `hidden_states[:deepest + 1]` never reads."""
    layer_list = _layer_list(tower, num_layers)
    top = layer_list.split(".")[0]
    children = [name for name, _ in tower.named_children()]
    after = set(children[children.index(top) + 1:])
    unused = []
    for name, _ in tower.named_parameters():
        parts = name.split(".")
        if parts[0] in after or parts[-1] in MASK_TOKEN_NAMES:
            unused.append(name)
        elif name.startswith(layer_list + ".") and int(name[len(layer_list) + 1:].split(".")[0]) >= deepest:
            unused.append(name)
    return unused


def unused_parameter_names(model) -> list[str]:
    """Full names of the parameters of an `IFASForConditionalGeneration` that no loss can reach."""
    config = model.config
    tower = model.model.vision_tower
    prefix = "model.vision_tower."
    names = [prefix + name for name in unused_vision_parameters(
        tower, config.vision_config.num_hidden_layers, deepest_vision_layer(config))]
    if config.use_gac and config.gac_mode == "replace":
        names += [f"model.multi_modal_projector.{name}" for name, _ in model.model.multi_modal_projector.named_parameters()]
    return names


def freeze_unused_parameters(model) -> list[str]:
    """Set `requires_grad=False` on the trainable parameters that get no gradient (so DDP does not wait for them,
    and no optimizer state is kept for them); returns their names."""
    unused = set(unused_parameter_names(model))
    frozen = []
    for name, parameter in model.named_parameters():
        if name in unused and parameter.requires_grad:
            parameter.requires_grad_(False)
            frozen.append(name)
    return frozen
