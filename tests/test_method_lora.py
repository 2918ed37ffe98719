"""What train_sft trains: LoRA on exactly the language model's projections, GAC and projector in full, the tower
frozen by default; the freezing options."""

import pytest
from torch import nn

from modeling_ifas import IFASForConditionalGeneration
from tiny_dataset import tiny_contract_dataset
from trainer_args import make_trainer as make_common_trainer

EXTRA = ["--max_steps", "1", "--save_strategy", "no"]
CONNECTOR = ("model.gac.", "model.multi_modal_projector.")


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lora_data") / "tiny")
    tiny_contract_dataset(n_per_split=2).save_to_disk(path)
    return path


@pytest.fixture(scope="module")
def plain_model(tiny_checkpoint):
    return IFASForConditionalGeneration.from_pretrained(tiny_checkpoint)


def make_trainer(checkpoint, dataset_path, output_dir, *args):
    return make_common_trainer(checkpoint, dataset_path, output_dir, *EXTRA, *args)[0]


def trainable(model):
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def test_lora_adapts_exactly_the_language_model_linears_and_trains_the_connector_in_full(
        tiny_checkpoint, dataset_path, plain_model, tmp_path):
    model = make_trainer(tiny_checkpoint, dataset_path, tmp_path, "--use_peft", "--lora_r", "4").model
    language_linears = {name for name, module in plain_model.named_modules()
                        if isinstance(module, nn.Linear) and name.startswith("model.language_model.")}
    assert len(language_linears) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers
    adapted = {name.removeprefix("base_model.model.") for name, module in model.named_modules()
               if hasattr(module, "lora_A") and isinstance(getattr(module, "base_layer", None), nn.Linear)}
    assert adapted == language_linears

    names = trainable(model)
    lora = {name for name in names if ".lora_A." in name or ".lora_B." in name}
    full = names - lora
    connector = {name for name, _ in plain_model.named_parameters() if name.startswith(CONNECTOR)}
    # every connector parameter has a trainable full copy (modules_to_save), and nothing else is trained in full
    assert {name.removeprefix("base_model.model.").replace(".modules_to_save.default.", ".") for name in full} == (
        connector)
    assert all(".modules_to_save.default." in name for name in full)
    assert {name.removeprefix("base_model.model.").split(".lora_")[0] for name in lora} == language_linears
    assert not any("vision_tower" in name or "lm_head" in name or "embed_tokens" in name for name in names)


def test_default_freezing_trains_everything_but_the_vision_tower(tiny_checkpoint, dataset_path, plain_model,
                                                                 tmp_path):
    model = make_trainer(tiny_checkpoint, dataset_path, tmp_path).model
    everything = {name for name, _ in plain_model.named_parameters()}
    assert trainable(model) == {name for name in everything if not name.startswith("model.vision_tower.")}


@pytest.mark.parametrize("option", ["--train_connector_only", "--freeze_language_model"])
def test_connector_only_options_train_gac_and_projector_alone(option, tiny_checkpoint, dataset_path, plain_model,
                                                              tmp_path):
    model = make_trainer(tiny_checkpoint, dataset_path, tmp_path, option, "true").model
    assert trainable(model) == {name for name, _ in plain_model.named_parameters() if name.startswith(CONNECTOR)}
