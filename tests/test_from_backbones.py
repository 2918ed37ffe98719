"""`from_backbones` builds an I-FAS from locally saved pretrained parts (tiny CLIP / DINOv2 + Qwen2)."""

import pytest
import torch
from transformers import (
    AutoTokenizer,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    Dinov2Config,
    Dinov2Model,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from ifas.model_builders import from_backbones, save_checkpoint, train_tiny_tokenizer
from tiny_inputs import random_image

TINY_VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, patch_size=4,
                   image_size=16)


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen2")
    tokenizer = train_tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": []})
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path), model


def test_from_clip_and_qwen2_folders(tmp_path, text_folder):
    text_path, text_model = text_folder
    vision_path = tmp_path / "clip"
    clip = CLIPModel(CLIPConfig(vision_config=TINY_VISION,
                                text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                                 intermediate_size=64, vocab_size=99), projection_dim=32))
    clip.save_pretrained(vision_path)
    CLIPImageProcessor(image_mean=[0.1, 0.2, 0.3], image_std=[0.5, 0.5, 0.5]).save_pretrained(vision_path)

    model, processor = from_backbones(str(vision_path), text_path, gac_num_queries=2)

    reference = clip.state_dict()
    for key, value in model.model.vision_tower.state_dict().items():
        torch.testing.assert_close(value, reference["vision_model." + key])
    torch.testing.assert_close(model.model.language_model.layers[0].mlp.up_proj.weight,
                               text_model.model.layers[0].mlp.up_proj.weight)
    assert list(processor.image_processor.image_mean) == [0.1, 0.2, 0.3]
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert processor.tokenizer.convert_ids_to_tokens(model.config.image_token_id) == "<image>"
    assert processor.face_crop == {"detector": "mtcnn", "scale": 1.3, "size": 224}  # trained on the builders' crops
    scores = model.score(processor, [random_image(0)], crop_faces=False)  # noise has no face to crop
    assert 0.0 <= float(scores[0]) <= 1.0
    save_checkpoint(model, processor, str(tmp_path / "ifas"))


def test_dinov2_folder_at_another_resolution(tmp_path, text_folder):
    text_path, _ = text_folder
    Dinov2Model(Dinov2Config(**{**TINY_VISION, "image_size": 32})).save_pretrained(tmp_path / "dinov2")
    model, processor = from_backbones(str(tmp_path / "dinov2"), text_path, image_size=16, face_crop=None)
    assert model.config.image_size == 16 and model.config.vision_config.image_size == 32
    assert model.config.num_patch_tokens == 16
    assert model.score(processor, [random_image(1)]).shape == (1,)


def test_resolution_change_refused_without_interpolation(tmp_path, text_folder):
    text_path, _ = text_folder
    clip_path = tmp_path / "clip"
    CLIPModel(CLIPConfig(vision_config=TINY_VISION, text_config=dict(hidden_size=32, num_hidden_layers=1,
                                                                     num_attention_heads=4, intermediate_size=64))
              ).save_pretrained(clip_path)
    with pytest.raises(ValueError, match="only DINOv2 interpolates"):
        from_backbones(str(clip_path), text_path, image_size=32)


def test_judgment_words_are_single_tokens(text_folder):
    tokenizer = AutoTokenizer.from_pretrained(text_folder[0])
    assert len(tokenizer("Yes", add_special_tokens=False)["input_ids"]) == 1
