"""The connector warm start (`--warm_start_connector_steps`) trains only the GAC, makes live and spoof images far
apart in the tokens the LLM reads (a separation measured here, not the function's own probe), and leaves the
tokens at the LLM's embedding norm."""

import pytest
import torch

from ifas.model_builders import tiny_ifas
from ifas.train.connector_init import calibrate_connector, encode_images, warm_start_connector
from tiny_dataset import tiny_image

LABELS = [i % 2 for i in range(16)]
IMAGES = [tiny_image(label, 100 + i) for i, label in enumerate(LABELS)]


def class_separation(tokens: torch.Tensor, is_live: torch.Tensor) -> float:
    """Distance between the live and spoof means of the mean visual token, over the pooled within-class spread."""
    pooled = tokens.mean(1)
    live, spoof = pooled[is_live], pooled[~is_live]
    spread = ((live - live.mean(0)).pow(2).sum(1).mean() + (spoof - spoof.mean(0)).pow(2).sum(1).mean()) / 2
    return float((live.mean(0) - spoof.mean(0)).norm() / spread.sqrt())


@pytest.fixture()
def calibrated():
    model, processor = tiny_ifas("dinov2", seed=2, gac_mode="replace")
    model.model.vision_tower.requires_grad_(False)
    calibrate_connector(model, processor.prepare_inputs(IMAGES)["pixel_values"])
    return model, processor


def test_warm_start_separates_classes_in_the_visual_tokens_and_keeps_the_embedding_norm(calibrated):
    model, processor = calibrated
    global_tokens, patch_features = encode_images(model, processor, IMAGES, batch_size=5)
    is_live = torch.tensor([label == 0 for label in LABELS])
    gac = model.model.gac
    with torch.no_grad():
        before = class_separation(gac(global_tokens, patch_features), is_live)
    outside = {name: p.detach().clone() for name, p in model.named_parameters() if ".gac." not in name}
    spoof_class = (~is_live).long()
    stats = warm_start_connector(model, global_tokens, patch_features, spoof_class, steps=100, lr=3e-2, batch_size=8)
    with torch.no_grad():
        tokens = gac(global_tokens, patch_features)
    assert class_separation(tokens, is_live) > 3 * before
    embedding_norm = model.get_input_embeddings().weight.norm(dim=-1).mean()
    torch.testing.assert_close(tokens.norm(dim=-1).mean(), embedding_norm, atol=1e-4, rtol=1e-4)
    assert stats["probe_loss_last"] < stats["probe_loss_first"]
    for name, parameter in model.named_parameters():
        if name in outside:
            assert torch.equal(parameter, outside[name]), f"{name} changed outside the connector"


def test_encode_images_equals_the_towers_per_layer_outputs(calibrated):
    model, processor = calibrated
    global_tokens, patch_features = encode_images(model, processor, IMAGES, batch_size=5)
    pixel_values = processor.prepare_inputs(IMAGES, crop_faces=False)["pixel_values"]
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
    config = model.config
    reference = torch.stack([hidden[i][:, 0] for i in config.tapped_layers], dim=1)
    torch.testing.assert_close(global_tokens, reference)
    torch.testing.assert_close(patch_features, hidden[config.vision_feature_layer][:, 1:])


def test_zero_steps_changes_nothing(calibrated):
    model, processor = calibrated
    global_tokens, patch_features = encode_images(model, processor, IMAGES)
    state = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert warm_start_connector(model, global_tokens, patch_features, torch.zeros(16), steps=0) == {}
    assert all(torch.equal(p, state[name]) for name, p in model.named_parameters())


def test_train_sft_flag_warm_starts_the_connector_before_training(tiny_checkpoint, tmp_path):
    from tiny_dataset import tiny_contract_dataset
    from trainer_args import make_trainer

    dataset_path = str(tmp_path / "data")
    tiny_contract_dataset(n_per_split=8).save_to_disk(dataset_path)
    common = ["--max_steps", "1", "--calibrate_connector_images", "8"]
    plain, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "plain", *common)
    warm, _ = make_trainer(tiny_checkpoint, dataset_path, tmp_path / "warm", *common,
                           "--warm_start_connector_steps", "30", "--warm_start_connector_lr", "1e-2")
    plain_gac, warm_gac = plain.model.model.gac, warm.model.model.gac
    assert not torch.equal(plain_gac.blocks[0].mlp[0].weight, warm_gac.blocks[0].mlp[0].weight)
    # calibration first, then the warm start: a calibration after it would reset the standardisation to plain's
    assert not torch.equal(plain_gac.global_scale, warm_gac.global_scale)
    for name, parameter in warm.model.named_parameters():
        if ".gac." not in name:
            assert torch.equal(parameter, dict(plain.model.named_parameters())[name]), name
