"""The frozen-tower cache returns exactly what the tower computes; the connector calibration is the standardisation
and norm matching it claims, checked against a computation written out here."""

import copy

import pytest
import torch

from ifas.model_builders import tiny_ifas
from ifas.train.connector_init import calibrate_connector
from ifas.train.vision_cache import VisionFeatureCache
from tiny_dataset import tiny_image

IMAGES = [tiny_image(i % 2, i) for i in range(6)]


@pytest.fixture()
def model_and_processor():
    model, processor = tiny_ifas("dinov2", seed=1)
    model.model.vision_tower.requires_grad_(False)
    return model, processor


def test_cached_scores_equal_uncached_and_the_tower_runs_once_per_image(model_and_processor):
    model, processor = model_and_processor
    expected = model.score(processor, IMAGES)
    cache = VisionFeatureCache()
    cache.attach(model)
    first = model.score(processor, IMAGES)
    second = model.score(processor, IMAGES[::-1])
    assert torch.equal(first, expected)
    # another batch order changes float32 sums in the last bit, which float64 P(live) shows
    torch.testing.assert_close(second, expected.flip(0), rtol=0, atol=1e-6)
    assert (len(cache), cache.misses, cache.hits) == (6, 6, 6)
    pixel_values = processor.prepare_inputs(IMAGES)["pixel_values"]
    cached = model.model.get_image_features(pixel_values)
    VisionFeatureCache.detach(model)
    torch.testing.assert_close(model.model.get_image_features(pixel_values), cached)
    model.model.vision_tower.encoder.layer[0].mlp.fc1.weight.data.add_(1.0)  # detached: the tower runs again
    assert not torch.allclose(model.model.get_image_features(pixel_values), cached)


def test_cache_refuses_a_trainable_or_different_tower(model_and_processor):
    model, _ = model_and_processor
    cache = VisionFeatureCache()
    cache.attach(model)
    other = copy.deepcopy(model)
    VisionFeatureCache.detach(other)
    other.model.vision_tower.embeddings.cls_token.data.add_(1.0)
    with pytest.raises(ValueError, match="another vision tower"):
        cache.attach(other)
    trainable, _ = tiny_ifas("dinov2", seed=1)
    with pytest.raises(ValueError, match="frozen vision tower"):
        VisionFeatureCache().attach(trainable)


def test_calibration_standardises_global_tokens_and_matches_embedding_norm(model_and_processor):
    model, processor = model_and_processor
    pixel_values = processor.prepare_inputs(IMAGES)["pixel_values"]
    stats = calibrate_connector(model, pixel_values)
    config, gac = model.config, model.model.gac
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
        cls = torch.stack([hidden[i][:, 0] for i in config.tapped_layers], dim=1)
        patches = hidden[config.vision_feature_layer][:, 1:]
        standardized = (cls - gac.global_shift) * gac.global_scale
        reference_queries = torch.cat([gac.prefix_queries.weight.expand(len(IMAGES), -1, -1),
                                       gac.global_proj(standardized)], dim=1)
        for block in gac.blocks:
            reference_queries = block(reference_queries, patches)
        tokens = gac.out_proj(gac.out_norm(reference_queries))
    torch.testing.assert_close(standardized.mean(0), torch.zeros_like(standardized[0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(standardized.std(0), torch.ones_like(standardized[0]), atol=1e-3, rtol=0)
    embedding_norm = model.get_input_embeddings().weight.norm(dim=-1).mean()
    torch.testing.assert_close(tokens.norm(dim=-1).mean(), embedding_norm, atol=1e-4, rtol=1e-4)
    assert stats["embedding_norm"] == pytest.approx(float(embedding_norm), rel=1e-5)
    torch.testing.assert_close(model.model.get_image_features(pixel_values)[:, -tokens.shape[1]:], tokens)


def test_first_supervised_position_limits_logits_without_changing_the_loss(model_and_processor):
    from ifas.train.sft_data import IFASCollator
    from train_sft import first_supervised_position, lopsided_loss, lopsided_loss_terms

    model, processor = model_and_processor
    rows = [{"image": image, "label": i % 2, "caption": "" if i == 2 else "a caption"} for i, image in enumerate(IMAGES)]
    batch = IFASCollator(processor)(rows)
    labels = batch.pop("labels")
    with torch.no_grad():
        full = model(**batch).logits
        first = first_supervised_position(labels)
        kept = model(**batch, logits_to_keep=torch.arange(first - 1, labels.shape[1])).logits
    assert first == int((labels != -100).float().argmax(1).min()) and first > 1
    reference = lopsided_loss_terms(full, labels)
    trimmed = lopsided_loss_terms(kept, labels[:, first - 1:])
    for key in reference:
        torch.testing.assert_close(trimmed[key], reference[key])
    counts = (reference["judgment_count"], reference["interpretation_count"])
    torch.testing.assert_close(lopsided_loss(trimmed, 0.7, *counts), lopsided_loss(reference, 0.7, *counts))
