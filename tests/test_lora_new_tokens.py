"""Tokens that `from_backbones` adds for the chat (ChatML) train under LoRA: their rows of the input embeddings and
of the untied LM head move, no other row does (not `<image>`'s either: visual tokens replace it), and merging
writes them into the plain layers."""

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Dinov2Config, Dinov2Model, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
from trl import ModelConfig, TrlParser

from ifas.model_builders import TINY_CORPUS, from_backbones, save_checkpoint
from tiny_dataset import tiny_contract_dataset
from modeling_ifas import IFASForConditionalGeneration
from train_sft import IFASScriptArguments, IFASSFTConfig, build_trainer, save_final

TINY_VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, patch_size=4,
                   image_size=16)


def base_lm_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE of a base LM: no chat tokens, no `<image>`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([TINY_CORPUS] * 20 + ["assistant\nYes", "assistant\nNo"] * 50, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.mark.parametrize("tied", [False, True], ids=["untied_head", "tied_head"])
def test_added_token_rows_train_under_lora(tmp_path, tied):
    tokenizer = base_lm_tokenizer()
    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
                     ).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    Dinov2Model(Dinov2Config(**TINY_VISION)).save_pretrained(tmp_path / "vision")
    model, processor = from_backbones(str(tmp_path / "vision"), str(tmp_path / "lm"), gac_num_queries=2)
    new = model.config.new_token_ids
    assert processor.tokenizer.convert_ids_to_tokens(new) == ["<|im_start|>", "<|im_end|>", "<image>"]
    checkpoint = save_checkpoint(model, processor, str(tmp_path / "init"))
    tiny_contract_dataset().save_to_disk(str(tmp_path / "data"))

    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    arguments = parser.parse_args_and_config(args=[
        "--model_name_or_path", checkpoint, "--dataset_path", str(tmp_path / "data"), "--output_dir",
        str(tmp_path / "out"), "--use_cpu", "--report_to", "none", "--seed", "0", "--use_peft", "--lora_r", "4",
        "--max_steps", "2", "--optim", "sgd", "--learning_rate", "0.5", "--per_device_train_batch_size", "4",
        "--save_strategy", "no"])
    trainer, trainer_script_args = build_trainer(*arguments), arguments[0]
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad and "token_adapter" in name]
    expected_wrapped = {"embed_tokens"} if tied else {"embed_tokens", "lm_head"}
    assert len(trainable) == len(expected_wrapped) and expected_wrapped == {n.split(".")[-4] for n in trainable}
    trainer.train()
    saved = save_final(trainer, trainer_script_args)  # the path train_sft.main takes: gathered, merged on a copy
    merged = trainer.model.merge_and_unload()
    reloaded = IFASForConditionalGeneration.from_pretrained(saved)
    for name, tensor in merged.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor, msg=name)

    def moved_rows(before, after):
        return set((before != after).any(dim=1).nonzero().flatten().tolist())

    embed_moved = moved_rows(model.get_input_embeddings().weight, merged.get_input_embeddings().weight)
    head_moved = moved_rows(model.lm_head.weight, merged.lm_head.weight)
    chat_ids = set(new[:2])  # in every input and target; <image> is overwritten by visual tokens, never a target
    assert embed_moved == head_moved == chat_ids
