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
