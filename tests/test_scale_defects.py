"""Issue 25's single-process defects of the training path at scale: the dtype of a run from an I-FAS checkpoint, the
tied LM head of the final checkpoint, a source without a chat template, the projector that `modules_to_save` made
trainable again, the connector's preparation on resume, input-gradient hooks on a frozen tower, the bounded vision
cache, and the vision cache under a sharded config. The 2-process ones are in test_sharded_preparation.py."""

import os

import pytest
import torch
from safetensors.torch import load_file
from trl import ModelConfig, TrlParser

from ifas.model_builders import build_processor, from_pretrained_vlm, save_checkpoint, tiny_config, tiny_ifas, \
    train_tiny_tokenizer
from ifas.train.freezing import freeze_unused_parameters
from ifas.train.saving import save_full_checkpoint
from ifas.train.vision_cache import VisionFeatureCache
from llava_fixtures import save_tiny_llava
from modeling_ifas import IFASForConditionalGeneration
from tiny_dataset import tiny_contract_dataset
from tiny_inputs import random_image
from train_sft import IFASScriptArguments, IFASSFTConfig, apply_lora, build_trainer, freeze, load_model_and_processor

LORA = ModelConfig(use_peft=True, lora_r=4, lora_alpha=8, lora_dropout=0.0)


def tied_tiny_ifas(seed: int = 0):
    """A tiny I-FAS whose LM head is tied to the input embeddings, with two added tokens (LoRA trains their rows)."""
    tokenizer = train_tiny_tokenizer()
    config = tiny_config("dinov2", tie_word_embeddings=True)
    config.text_config.tie_word_embeddings = True
    config.text_config.vocab_size = len(tokenizer)
    processor = build_processor(config, tokenizer)
    config.new_token_ids = [processor.image_token_id, tokenizer.convert_tokens_to_ids("<|im_start|>")]
    torch.manual_seed(seed)
    return IFASForConditionalGeneration(config), processor


@pytest.mark.parametrize("dtype", ["float32", "auto"])
def test_a_bf16_ifas_checkpoint_trains_with_fp32_weights(tiny_model_and_processor, tmp_path, dtype):
    model, processor = tiny_model_and_processor
    bf16 = IFASForConditionalGeneration(model.config).to(torch.bfloat16)
    folder = save_checkpoint(bf16, processor, str(tmp_path / "bf16"))
    loaded, _ = load_model_and_processor(ModelConfig(model_name_or_path=folder, dtype=dtype), IFASScriptArguments())
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    loaded, _ = load_model_and_processor(ModelConfig(model_name_or_path=folder, dtype="bfloat16"),
                                         IFASScriptArguments())
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}


def test_a_tied_head_stays_tied_in_the_final_checkpoint_from_a_gathered_state_dict(tmp_path):
    model, processor = tied_tiny_ifas()
    model = apply_lora(model, LORA)
    with torch.no_grad():
        torch.manual_seed(3)
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:  # as if trained
                parameter.normal_(std=0.1)
    # ZeRO-1/2 and FSDP2 gather every key into a tensor of its own: the head and the embeddings no longer share one
    gathered = {key: value.detach().clone() for key, value in model.state_dict().items()}
    save_full_checkpoint(model, processor, str(tmp_path / "final"), gathered)
    assert "lm_head.weight" not in load_file(tmp_path / "final" / "model.safetensors")
    reloaded = IFASForConditionalGeneration.from_pretrained(tmp_path / "final")
    assert reloaded.config.tie_word_embeddings
    assert reloaded.lm_head.weight is reloaded.get_input_embeddings().weight
    merged = model.merge_and_unload().get_input_embeddings().weight
    torch.testing.assert_close(reloaded.get_input_embeddings().weight, merged)


def test_a_source_without_a_chat_template_is_an_error_naming_it(tmp_path):
    folder = save_tiny_llava(str(tmp_path / "llava"), "clip_llama")
    template = open(os.path.join(folder, "chat_template.jinja"), encoding="utf-8").read()
    os.remove(os.path.join(folder, "chat_template.jinja"))
    with pytest.raises(ValueError, match=rf"{folder}: the checkpoint has no chat template.*chat_template"):
        from_pretrained_vlm(folder, gac_num_queries=2)
    _, processor = from_pretrained_vlm(folder, gac_num_queries=2, chat_template=template)
    assert processor.chat_template == template


def test_modules_to_save_leaves_the_replaced_projector_frozen():
    model, _ = tiny_ifas("dinov2", gac_mode="replace")
    freeze(model, IFASScriptArguments())
    assert "model.multi_modal_projector.linear_1.weight" in freeze_unused_parameters(model)
    model = apply_lora(model, LORA)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert not [name for name in trainable if "multi_modal_projector" in name]
    assert any(".gac." in name for name in trainable)


def test_resuming_does_not_prepare_the_connector_again(tiny_checkpoint, tmp_path):
    tiny_contract_dataset().save_to_disk(str(tmp_path / "data"))
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    args = ["--model_name_or_path", tiny_checkpoint, "--dataset_path", str(tmp_path / "data"),
            "--output_dir", str(tmp_path / "out"), "--use_cpu", "--report_to", "none", "--max_steps", "1",
            "--calibrate_connector_images", "4", "--warm_start_connector_steps", "3"]
    start = load_file(os.path.join(tiny_checkpoint, "model.safetensors"))
    fresh = build_trainer(*parser.parse_args_and_config(args=args)).model.state_dict()
    assert not torch.equal(fresh["model.gac.global_shift"], start["model.gac.global_shift"])  # prepared
    resumed = build_trainer(*parser.parse_args_and_config(args=args + ["--resume_from_checkpoint", "ckpt"]))
    for name, tensor in resumed.model.state_dict().items():
        if name.startswith("model.gac."):
            assert torch.equal(tensor, start[name]), name


def test_input_gradients_are_hooked_on_the_llm_not_on_the_frozen_tower():
    model, processor = tiny_ifas("dinov2")
    freeze(model, IFASScriptArguments())
    model = apply_lora(model, LORA).train()
    model.enable_input_require_grads()  # what TRL and transformers do with PEFT + gradient checkpointing
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen[name] = output.requires_grad
        return hook

    base = model.get_base_model()
    base.model.vision_tower.get_input_embeddings().register_forward_hook(record("tower"))
    base.get_input_embeddings().register_forward_hook(record("llm"))
    model(**processor.prepare_inputs([random_image(0)], crop_faces=False)).logits.sum().backward()
    assert seen == {"tower": False, "llm": True}
    assert any(p.grad is not None for name, p in model.named_parameters() if "lora_A" in name)


def test_the_vision_cache_is_bounded_and_keeps_the_computed_dtype():
    def compute(pixel_values):
        rows = pixel_values.flatten(1)[:, :4].to(torch.bfloat16)
        return rows[:, None, :].repeat(1, 2, 1), rows[:, None, :].repeat(1, 3, 1)

    entry_bytes = (2 * 4 + 3 * 4) * 2  # bf16
    cache = VisionFeatureCache(max_bytes=2 * entry_bytes)
    pixels = [torch.full((1, 3, 2, 2), float(i)) for i in range(3)]
    for p in pixels:
        cache.encode(compute, p)
    assert len(cache) == 2 and cache.nbytes == 2 * entry_bytes
    assert {t.dtype for entry in cache.entries.values() for t in entry} == {torch.bfloat16}
    _, patch = cache.encode(compute, pixels[2])
    assert cache.hits == 1 and torch.equal(patch, compute(pixels[2])[1].float())
    cache.encode(compute, pixels[0])  # evicted first (least recently used): computed again
    assert cache.misses == 4


def test_the_vision_cache_is_refused_under_fsdp(tiny_checkpoint, tmp_path, monkeypatch):
    tiny_contract_dataset().save_to_disk(str(tmp_path / "data"))
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    args = parser.parse_args_and_config(args=[
        "--model_name_or_path", tiny_checkpoint, "--dataset_path", str(tmp_path / "data"), "--output_dir",
        str(tmp_path / "out"), "--use_cpu", "--report_to", "none", "--cache_vision_features"])
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch --config_file fsdp.yaml` sets
    with pytest.raises(ValueError, match="--cache_vision_features cannot be used under FSDP"):
        build_trainer(*args)
