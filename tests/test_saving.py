"""ifas.train.saving: the plain copy built from a gathered state dict, and ZeRO-3 construction switched off."""

import pytest
import torch
from transformers.integrations import deepspeed as hf_deepspeed
from trl import ModelConfig

from ifas.model_builders import tiny_ifas
from ifas.train.saving import plain_model_from_state_dict, zero3_init_disabled
from tiny_inputs import random_image
from train_sft import apply_lora


class ZeRO3Config:
    """Stand-in for transformers' HfDeepSpeedConfig (deepspeed is not installed here)."""

    def is_zero3(self):
        return True


def test_zero3_init_is_off_inside_and_restored_after():
    config = ZeRO3Config()
    hf_deepspeed.set_hf_deepspeed_config(config)
    try:
        assert hf_deepspeed.is_deepspeed_zero3_enabled()
        with zero3_init_disabled():
            assert not hf_deepspeed.is_deepspeed_zero3_enabled()
        assert hf_deepspeed.is_deepspeed_zero3_enabled()
    finally:
        hf_deepspeed.unset_hf_deepspeed_config()


def test_lora_is_merged_on_the_copy_and_the_live_model_is_untouched():
    model, processor = tiny_ifas("dinov2")
    torch.manual_seed(0)
    peft_model = apply_lora(model, ModelConfig(use_peft=True, lora_r=4, lora_alpha=8, lora_dropout=0.0))
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the adapter an effect to merge
            torch.nn.init.normal_(parameter, std=0.5)
    live = {name: tensor.clone() for name, tensor in peft_model.state_dict().items()}
    inputs = processor.prepare_inputs([random_image(0)])
    with torch.no_grad():
        expected = peft_model.eval()(**inputs).logits
        merged = plain_model_from_state_dict(peft_model, peft_model.state_dict())
        torch.testing.assert_close(merged(**inputs).logits, expected, atol=1e-5, rtol=1e-5)
    assert not any("lora_" in name for name in merged.state_dict())
    assert all(torch.equal(live[name], tensor) for name, tensor in peft_model.state_dict().items())


def test_state_dict_that_does_not_fill_the_model_is_refused():
    model, _ = tiny_ifas("dinov2")
    state_dict = dict(model.state_dict())
    state_dict.pop("model.gac.out_proj.weight")
    state_dict["model.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected keys \['model.extra.weight'\].*model.gac.out_proj.weight"):
        plain_model_from_state_dict(model, state_dict)
