"""Write the final I-FAS checkpoint as full tensors from a DDP, DeepSpeed ZeRO-3 or FSDP run.

Every rank calls `accelerator.get_state_dict(trainer.model_wrapped)` (a collective: ZeRO-3 gathers the 16-bit
partitions, `zero3_save_16bit_model: true`; FSDP2 gathers a full CPU state dict on rank 0). The main rank then loads
those full tensors into a plain copy of the model built on the meta device (nothing allocated twice, no tensor
copied between partitioned models), merges LoRA there when asked, and writes the folder with `save_checkpoint`.
Merging on the gathered copy is what makes it correct under ZeRO-3 and FSDP: PEFT's `merge_and_unload` on
partitioned weights does nothing or fails (peft#297). Under ZeRO-3 the saved tensors are the 16-bit gathered ones.

Example (what `train_sft.save_final` does):
    >>> state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped)  # doctest: +SKIP
    >>> if trainer.accelerator.is_main_process:  # doctest: +SKIP
    ...     save_full_checkpoint(trainer.accelerator.unwrap_model(trainer.model), processor, "out", state_dict)
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from accelerate import init_empty_weights

from ifas.model_builders import save_checkpoint
from modeling_ifas import IFASForConditionalGeneration


@contextmanager
def zero3_init_disabled():
    """Build plain (unpartitioned) models even while a DeepSpeed ZeRO-3 config is active: transformers would
    otherwise construct them inside `deepspeed.zero.Init` and PEFT would gather around every merge."""
    from transformers.integrations import deepspeed

    reference = deepspeed._hf_deepspeed_config_weak_ref
    active = reference() if reference is not None else None
    deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if active is not None:
            deepspeed.set_hf_deepspeed_config(active)


def retie_word_embeddings(model) -> None:
    """Tie the LM head to the input embeddings again, as the original config asks.

    A gathered state dict (ZeRO-1/2, FSDP2) holds `lm_head.weight` and `embed_tokens.weight` as separate tensors, so
    after `load_state_dict(assign=True)` they no longer share storage and PEFT's `merge_and_unload` then sets
    `tie_word_embeddings=False` on the copy ("no longer tied after merging"): `tie_weights()` alone would do nothing
    and the file would hold an independent head."""
    model.config.tie_word_embeddings = True
    text_config = model.config.get_text_config()
    if text_config is not model.config:
        text_config.tie_word_embeddings = True
    model.tie_weights()
    if model.get_output_embeddings().weight is not model.get_input_embeddings().weight:
        raise ValueError("could not tie the LM head to the input embeddings of the final checkpoint")


def plain_model_from_state_dict(model, state_dict: dict, merge_lora: bool = True):
    """A plain `IFASForConditionalGeneration` holding `state_dict` (the full tensors of `model`, a plain or a PEFT
    I-FAS whose own parameters may be partitioned or sharded); LoRA merged when `model` is a PEFT model.

    Raises `ValueError` naming the keys when the state dict does not fill the model exactly."""
    peft_config = getattr(model, "peft_config", None)
    base = model.get_base_model() if peft_config else model
    with zero3_init_disabled():
        with init_empty_weights():
            plain = IFASForConditionalGeneration(copy.deepcopy(base.config))
            if peft_config:
                from peft import get_peft_model

                plain = get_peft_model(plain, copy.deepcopy(peft_config["default"]))
        if peft_config and merge_lora:  # merging writes into the base weights: never into the live model's
            state_dict = {k: v.clone() if ".base_layer." in k else v for k, v in state_dict.items()}
        result = plain.load_state_dict(state_dict, strict=False, assign=True)
        if peft_config and merge_lora:
            plain = plain.merge_and_unload()
        if base.config.tie_word_embeddings:  # after the merge: trainable-token wrappers hide the embedding until then
            retie_word_embeddings(plain.get_base_model() if hasattr(plain, "peft_config") else plain)
        on_meta = [name for name, tensor in [*plain.named_parameters(), *plain.named_buffers()] if tensor.is_meta]
        if result.unexpected_keys or on_meta:
            raise ValueError(f"the gathered state dict does not match the model: unexpected keys "
                             f"{result.unexpected_keys[:5]}, tensors left unset {on_meta[:5]}")
    return plain.eval()


def save_full_checkpoint(model, processor, out_dir: str, state_dict: dict) -> str:
    """Main rank only: write the complete I-FAS folder (LoRA merged) from the gathered `state_dict` of `model`."""
    with torch.no_grad():
        plain = plain_model_from_state_dict(model, state_dict)
    plain.generation_config = copy.deepcopy(
        (model.get_base_model() if hasattr(model, "get_base_model") else model).generation_config)
    return save_checkpoint(plain, processor, out_dir)
