import pytest

from configuration_ifas import AUTO_MAP, IFASConfig
from ifas.model_builders import tiny_config


def test_config_round_trip(tmp_path):
    config = tiny_config("clip", gac_num_queries=3, gac_layers=[1, 2], vision_feature_layer=[-1, -2], threshold=0.42)
    config.save_pretrained(tmp_path)
    loaded = IFASConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert type(loaded.vision_config).__name__ == "CLIPVisionConfig"
    assert type(loaded.text_config).__name__ == "Qwen2Config"
    assert loaded.threshold == 0.42 and loaded.num_image_tokens == config.num_image_tokens


def test_auto_map_covers_every_auto_class(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    assert IFASConfig.from_pretrained(tmp_path).auto_map == AUTO_MAP


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, 16 + 4 + 2),  # 4x4 patches + 4 queries + 2 tapped layers
        ({"gac_mode": "replace"}, 4 + 2),
        ({"use_gac": False}, 16),
        ({"gac_layers": [2]}, 16 + 4 + 1),
        ({"vision_feature_select_strategy": "full"}, 17 + 4 + 2),
    ],
)
def test_num_image_tokens(overrides, expected):
    assert tiny_config("dinov2", **overrides).num_image_tokens == expected


def test_siglip_has_no_cls_token():
    assert tiny_config("siglip").num_image_tokens == 16 + 4 + 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"gac_mode": "prepend"}, "gac_mode"),
        ({"gac_global_pool": "max"}, "gac_global_pool"),
        ({"use_gac": False, "gac_mode": "replace"}, "no visual tokens"),
        ({"judgment_words": ["Yes"]}, "judgment_words"),
    ],
)
def test_invalid_settings_fail_loudly(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)
