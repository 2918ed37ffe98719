"""Tiny random `LlavaForConditionalGeneration` checkpoints saved as llava-hf ships them (weights, processor,
tokenizer, chat template), built in code:

- "clip_llama": CLIP tower + Llama LM, SentencePiece-style tokenizer, LLaVA-1.5's template, CLIP's shortest-edge
  resize + centre crop, strategy "default", layer -2; tensors renamed to the Hub's legacy names
  (`language_model.model.*`, `vision_tower.vision_model.*`), as in llava-hf/llava-1.5-7b-hf.
- "siglip_qwen2": SigLIP tower + Qwen2 LM (tied embeddings), ChatML, fixed-size resize, strategy "full", layer -1
  (llava-interleave-qwen's layout).
"""

import os

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    CLIPImageProcessorPil,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    SiglipImageProcessorPil,
)

from tokenizer_families import chatml_family, sentencepiece_family

VISION = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, patch_size=4,
              image_size=16)
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512)


def _to_hub_names(folder: str) -> None:
    """Rewrite model.safetensors with the names llava-hf's files carry (`vision_tower.vision_model.*`)."""
    path = os.path.join(folder, "model.safetensors")
    tensors = load_file(path)
    renamed = {("vision_tower.vision_model." + key[len("vision_tower."):] if key.startswith("vision_tower.") else key):
               value for key, value in tensors.items()}
    save_file(renamed, path, metadata={"format": "pt"})


def save_tiny_llava(folder: str, kind: str, seed: int = 0) -> str:
    if kind == "clip_llama":
        tokenizer, template = sentencepiece_family()
        vision = dict(model_type="clip_vision_model", projection_dim=32, **VISION)
        text = dict(model_type="llama", vocab_size=len(tokenizer) + 6, tie_word_embeddings=False, **TEXT)
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16},
                                                image_mean=[0.4, 0.45, 0.5], image_std=[0.27, 0.26, 0.28])
        settings = dict(vision_feature_select_strategy="default", vision_feature_layer=-2)
        extra_tokens = 1
    else:
        tokenizer, template = chatml_family()
        vision = dict(model_type="siglip_vision_model", **VISION)
        text = dict(model_type="qwen2", vocab_size=len(tokenizer), tie_word_embeddings=True, **TEXT)
        image_processor = SiglipImageProcessorPil(size={"height": 16, "width": 16})
        settings = dict(vision_feature_select_strategy="full", vision_feature_layer=-1)
        extra_tokens = 0
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         tie_word_embeddings=text["tie_word_embeddings"], **settings)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.save_pretrained(folder)
    if kind == "clip_llama":
        _to_hub_names(folder)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template,
                               patch_size=4, num_additional_image_tokens=extra_tokens,
                               vision_feature_select_strategy=settings["vision_feature_select_strategy"])
    processor.save_pretrained(folder)
    return folder
