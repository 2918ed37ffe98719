"""Dynamic int8 for CPU scoring: exactly the tower's and the LM's Linear layers are swapped, the fp32 model is left
alone, P(live) stays within quantization error of fp32, and `ifas predict --int8` scores like fp32."""

import copy
import json

import pytest
import torch

import ifas.cli
from ifas.infer.cpu_speed import count_int8_linears, count_linears, quantize_for_cpu
from tiny_inputs import random_image


def test_swaps_exactly_the_tower_and_lm_linears_and_leaves_the_original(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    before = {name: p.clone() for name, p in model.named_parameters()}
    quantized = quantize_for_cpu(model)
    inner = quantized.model
    assert count_int8_linears(inner.vision_tower) == count_linears(model.model.vision_tower) > 0
    assert count_int8_linears(inner.language_model) == count_linears(model.model.language_model) > 0
    assert count_linears(inner.vision_tower) == count_linears(inner.language_model) == 0
    assert count_int8_linears(quantized.lm_head) == count_int8_linears(inner.gac) == 0
    assert count_int8_linears(model) == 0
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name


def test_int8_scores_stay_within_quantization_error_of_fp32(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    images = [random_image(seed) for seed in range(6)]
    fp32 = model.score(processor, images, crop_faces=False)
    int8 = quantize_for_cpu(model).score(processor, images, crop_faces=False)
    assert torch.all((int8 - fp32).abs() < 0.05), (fp32, int8)
    assert not torch.equal(int8, fp32)


def test_refuses_a_model_that_is_not_fp32_on_cpu(tiny_model_and_processor):
    model, _ = tiny_model_and_processor
    with pytest.raises(ValueError, match="fp32 model on CPU; this one is torch.bfloat16"):
        quantize_for_cpu(copy.deepcopy(model).to(torch.bfloat16))


def test_predict_int8_flag_gives_the_fp32_decisions(tmp_path, tiny_checkpoint, capsys):
    for seed in range(4):
        random_image(seed).save(tmp_path / f"{seed}.png")
    results = {}
    for flag in ([], ["--int8"]):
        out = tmp_path / f"out{len(flag)}.jsonl"
        ifas.cli.main(["predict", tiny_checkpoint, str(tmp_path), "--out", str(out), *flag])
        results[bool(flag)] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in results[True]] == [r["path"] for r in results[False]]
    for fp32, int8 in zip(results[False], results[True]):
        assert abs(int8["p_live"] - fp32["p_live"]) < 0.05
    with pytest.raises(SystemExit) as usage_error:
        ifas.cli.main(["predict", tiny_checkpoint, str(tmp_path), "--int8", "--dtype", "bfloat16"])
    assert usage_error.value.code == 2 and "--int8 needs --device cpu" in capsys.readouterr().err
