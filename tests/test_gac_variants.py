"""The GAC variants of bench_claims.py from the config alone: tapped layers all / last / last four, prefix queries on /
off, append / replace. Each builds, saves, reloads and scores the same; "last only" taps exactly one layer."""

import functools

import pytest
import torch

from configuration_ifas import IFASConfig
from ifas.model_builders import save_checkpoint, tiny_config, tiny_model, train_tiny_tokenizer
from ifas.train.vision_cache import VisionFeatureCache
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from tiny_inputs import random_image

LAYERS = 4  # a four-layer tiny DINOv2, so that "the last four" differs from "the last one"
PATCHES = (16 // 4) ** 2  # 16 px images, 4 px patches
VARIANTS = {
    "all": dict(gac_layers=None),
    "last": dict(gac_layers=[-1]),
    "last4": dict(gac_layers=[-4, -3, -2, -1]),
    "no_prefix": dict(gac_num_queries=0),
    "append": dict(gac_mode="append"),
    "last_no_prefix_append": dict(gac_layers=[-1], gac_num_queries=0, gac_mode="append"),
}


@functools.lru_cache(maxsize=1)
def tokenizer():
    return train_tiny_tokenizer()


def build(seed=0, **overrides):
    config = tiny_config("dinov2", **{"gac_mode": "replace", **overrides})
    config.vision_config.num_hidden_layers = LAYERS
    config = IFASConfig(**config.to_dict())  # rebuilt so that every derived count sees the four layers
    return tiny_model(config, tokenizer(), seed)


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_builds_saves_reloads_and_scores(tmp_path, name):
    settings = VARIANTS[name]
    model, processor = build(**settings)
    tapped = {"all": LAYERS, "last": 1, "last4": 4}[
        "last" if settings.get("gac_layers") == [-1] else "last4" if settings.get("gac_layers") else "all"]
    queries = settings.get("gac_num_queries", 4)
    expected = queries + tapped + (PATCHES if settings.get("gac_mode") == "append" else 0)
    assert model.config.num_image_tokens == expected
    images = [random_image(i, size=(16, 16)) for i in range(3)]
    with torch.no_grad():
        assert model.model.get_image_features(processor.prepare_inputs(images, crop_faces=False)["pixel_values"]
                                              ).shape[1] == expected
        before = model.score(processor, images, crop_faces=False)
    path = save_checkpoint(model, processor, str(tmp_path / name))
    reloaded = IFASForConditionalGeneration.from_pretrained(path).eval()
    reloaded_processor = IFASProcessor.from_pretrained(path, trust_remote_code=True)
    for key, value in settings.items():
        assert getattr(reloaded.config, key) == value
    assert reloaded.config.num_image_tokens == expected
    with torch.no_grad():
        after = reloaded.score(reloaded_processor, images, crop_faces=False)
    assert torch.allclose(before, after, atol=1e-6) and ((after > 0) & (after < 1)).all()


def test_last_only_taps_exactly_the_last_layer():
    model, processor = build(gac_layers=[-1])
    pixel_values = processor.prepare_inputs([random_image(5, size=(16, 16))], crop_faces=False)["pixel_values"]
    with torch.no_grad():
        global_tokens, _ = model.model.encode_images(pixel_values)
        hidden = model.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
    assert len(hidden) == LAYERS + 1 and global_tokens.shape[1] == 1
    assert torch.equal(global_tokens[:, 0], hidden[LAYERS][:, 0])  # the CLS token of the last encoder layer
    assert model.model.gac.global_shift.shape[0] == 1


def test_a_vision_cache_serves_only_the_layers_it_was_filled_for():
    every, processor = build()
    last, _ = build(gac_layers=[-1])
    last.model.vision_tower.load_state_dict(every.model.vision_tower.state_dict())  # the same frozen tower
    cache = VisionFeatureCache()
    cache.attach(every.requires_grad_(False))
    every.score(processor, [random_image(1, size=(16, 16))], crop_faces=False)
    with pytest.raises(ValueError, match="other layers"):
        cache.attach(last.requires_grad_(False))


def test_bad_gac_settings_are_refused():
    with pytest.raises(ValueError, match="gac_num_queries must be >= 0"):
        tiny_config("dinov2", gac_num_queries=-1)
    with pytest.raises(ValueError, match="at least one layer"):
        tiny_config("dinov2", gac_layers=[])
