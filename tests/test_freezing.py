"""Structural freezing (ifas.train.freezing) equals the parameters that one real backward leaves without a gradient."""

import pytest
import torch

from ifas.model_builders import tiny_ifas
from ifas.train.freezing import freeze_unused_parameters, unused_parameter_names
from tiny_inputs import random_image

SETTINGS = {
    "default": {},
    "llava_layer_minus_2": dict(vision_feature_layer=-2, gac_layers=[1]),
    "multi_layer_projector": dict(vision_feature_layer=[0, 1], gac_layers=[0, 1]),
    "gac_replace": dict(gac_mode="replace"),
    "no_gac_layer_minus_2": dict(use_gac=False, vision_feature_layer=-2),
}


def no_gradient_after_backward(model, processor) -> set[str]:
    """Reference: every parameter trainable, one forward + backward on real inputs, the names whose .grad is None."""
    model.train().requires_grad_(True)
    inputs = processor.prepare_inputs([random_image(0), random_image(1)])
    model(**inputs).logits.float().pow(2).mean().backward()
    return {name for name, p in model.named_parameters() if p.grad is None}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("tower", ["dinov2", "vit", "clip", "siglip"])
def test_structural_rule_equals_parameters_without_gradient(tower, setting):
    model, processor = tiny_ifas(tower, **SETTINGS[setting])
    reference = no_gradient_after_backward(model, processor)
    assert set(unused_parameter_names(model)) == reference


def test_llava_layer_minus_2_leaves_last_layer_and_post_layernorm_unused():
    model, _ = tiny_ifas("clip", vision_feature_layer=-2, gac_layers=[1])
    unused = set(unused_parameter_names(model))
    assert "model.vision_tower.post_layernorm.weight" in unused
    assert any(name.startswith("model.vision_tower.encoder.layers.1.") for name in unused)
    assert not any(name.startswith("model.vision_tower.encoder.layers.0.") for name in unused)


def test_freeze_touches_only_trainable_unused_parameters_and_runs_on_meta():
    with torch.device("meta"):
        model, _ = tiny_ifas("siglip")
    model.model.vision_tower.head.requires_grad_(False)
    frozen = freeze_unused_parameters(model)
    assert frozen and all(name.startswith("model.vision_tower.post_layernorm.") for name in frozen)
    assert not any(p.requires_grad for p in model.model.vision_tower.post_layernorm.parameters())


def test_out_of_range_layer_index_is_refused():
    model, _ = tiny_ifas("dinov2", use_gac=False, vision_feature_layer=-2)
    model.config.vision_feature_layer = 5
    with pytest.raises(ValueError, match="vision layer index 5 is out of range for a tower of 2 layers"):
        unused_parameter_names(model)
