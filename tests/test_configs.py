"""The shipped YAML recipes and accelerate configs parse."""

from pathlib import Path

import pytest
import yaml
from trl import ModelConfig, TrlParser

from train_sft import IFASScriptArguments, IFASSFTConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("recipe", sorted(p.name for p in CONFIGS.glob("*.yaml") if p.name != "demo.yaml"))
def test_training_recipes_parse(recipe):
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=["--config", str(CONFIGS / recipe)])
    assert script_args.protocol and script_args.data_root and training_args.judgment_weight == 0.7
    assert model_args.use_peft and training_args.loss_type == "nll"


@pytest.mark.parametrize("name", sorted(p.name for p in (CONFIGS / "accelerate").glob("*.yaml")))
def test_accelerate_configs_are_complete(name):
    config = yaml.safe_load((CONFIGS / "accelerate" / name).read_text())
    assert {"distributed_type", "num_processes", "mixed_precision", "num_machines"} <= set(config)


def test_fsdp_wraps_layer_classes_that_exist_in_the_llava_recipe_model():
    from accelerate.utils.dataclasses import get_module_class_from_name

    from configuration_ifas import IFASConfig
    from ifas.model_builders import TINY_TOWERS
    from modeling_ifas import IFASForConditionalGeneration

    config = yaml.safe_load((CONFIGS / "accelerate" / "fsdp.yaml").read_text())["fsdp_config"]
    assert config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    llama = dict(model_type="llama", vocab_size=320, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2)
    model = IFASForConditionalGeneration(IFASConfig(vision_config=TINY_TOWERS["clip"], text_config=llama,
                                                    gac_num_queries=4))
    names = config["fsdp_transformer_layer_cls_to_wrap"].split(",")
    assert [get_module_class_from_name(model, name).__name__ for name in names] == names


def test_zero3_gathers_16bit_weights_for_the_final_checkpoint():
    config = yaml.safe_load((CONFIGS / "accelerate" / "deepspeed_zero3.yaml").read_text())["deepspeed_config"]
    assert config["zero_stage"] == 3 and config["zero3_save_16bit_model"] is True


def test_llava15_recipe_follows_llava_finetune_lora():
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=["--config", str(CONFIGS / "llava15_7b_lora.yaml")])
    assert script_args.vlm_model_name_or_path == "llava-hf/llava-1.5-7b-hf"
    assert (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (128, 256, 0.05)
    assert (training_args.learning_rate, training_args.connector_learning_rate) == (2e-4, 2e-5)
    assert training_args.per_device_train_batch_size * 8 == 128 and training_args.weight_decay == 0.0
