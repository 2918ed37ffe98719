"""`from_pretrained_vlm` converts tiny random LLaVA checkpoints (CLIP + Llama/SentencePiece with LLaVA-1.5's
template; SigLIP + Qwen2/ChatML) into I-FAS: every pretrained tensor kept, the source's logits with GAC off, a saved
checkpoint that reloads through the Auto classes and the pipeline with trust_remote_code."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, LlavaForConditionalGeneration

from ifas.model_builders import from_pretrained_vlm, save_checkpoint
from llava_fixtures import save_tiny_llava
from tiny_inputs import random_image

KINDS = ("clip_llama", "siglip_qwen2")
# The file names llava-hf checkpoints carry -> I-FAS names, written out independently of ifas.model_builders's mapping.
HUB_TO_IFAS = ((r"^vision_tower\.vision_model\.", "model.vision_tower."), (r"^vision_tower\.", "model.vision_tower."),
               (r"^language_model\.model\.", "model.language_model."), (r"^language_model\.lm_head\.", "lm_head."),
               (r"^multi_modal_projector\.", "model.multi_modal_projector."))


def ifas_name(key: str) -> str:
    for pattern, replacement in HUB_TO_IFAS:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    raise AssertionError(f"unexpected key in the LLaVA file: {key}")


@pytest.fixture(scope="module", params=KINDS)
def llava(request, tmp_path_factory):
    return request.param, save_tiny_llava(str(tmp_path_factory.mktemp(request.param)), request.param)


def test_conversion_keeps_every_pretrained_tensor(llava):
    kind, folder = llava
    model, processor = from_pretrained_vlm(folder)
    converted = model.state_dict()
    stored = load_file(os.path.join(folder, "model.safetensors"))
    assert any(key.startswith("vision_tower.vision_model.") for key in stored) == (kind == "clip_llama")
    for key, tensor in stored.items():
        assert torch.equal(converted[ifas_name(key)], tensor), key
    new = set(converted) - {ifas_name(key) for key in stored}
    tied = {"lm_head.weight"} if kind == "siglip_qwen2" else set()
    assert new - tied and all(key.startswith("model.gac.") for key in new - tied)
    if tied:
        assert torch.equal(converted["lm_head.weight"], stored["language_model.model.embed_tokens.weight"])

    source = AutoProcessor.from_pretrained(folder)
    assert processor.chat_template == source.chat_template
    assert type(processor.image_processor) is type(source.image_processor)
    assert processor.image_processor.to_dict() == source.image_processor.to_dict()
    assert processor.tokenizer.get_vocab() == source.tokenizer.get_vocab()
    expected = {"clip_llama": (-2, "default", "cls"), "siglip_qwen2": (-1, "full", "mean")}[kind]
    config = model.config
    assert (config.vision_feature_layer, config.vision_feature_select_strategy, config.gac_global_pool) == expected
    assert config.image_token_id == source.tokenizer.convert_tokens_to_ids("<image>")
    # 4 x 4 patches (the CLS token dropped under "default"), 32 queries, one token per layer of the 3-layer tower
    assert config.num_image_tokens == 16 + 32 + 3


def test_logits_equal_the_source_with_gac_off(llava):
    _, folder = llava
    source_model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    source_processor = AutoProcessor.from_pretrained(folder)
    model, processor = from_pretrained_vlm(folder, use_gac=False)
    images = [random_image(0, (20, 24)), random_image(1, (31, 17))]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": processor.question}]}]
    prompt = source_processor.apply_chat_template(messages, add_generation_prompt=True)
    reference = source_processor(images=images, text=[prompt] * 2, return_tensors="pt")
    inputs = processor.prepare_inputs(images)
    assert torch.equal(inputs["input_ids"], reference["input_ids"])
    assert torch.equal(inputs["pixel_values"], reference["pixel_values"])
    with torch.no_grad():
        expected = source_model(**reference).logits
        logits = model(**inputs).logits
    assert (logits - expected).abs().max().item() <= 1e-4


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    from PIL import Image
    from transformers import AutoModel, AutoProcessor, pipeline

    image = Image.open(sys.argv[1])
    results = {}
    for path in sys.argv[2:]:
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
        model = AutoModel.from_pretrained(path, trust_remote_code=True)
        pipe = pipeline("image-text-to-text", model=model, processor=processor)
        messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                                 {"type": "text", "text": "Is this photo of a real person?"}]}]
        results[path] = {
            "modules": [type(processor).__module__, type(model).__module__],
            "image_processor": type(processor.image_processor).__name__,
            "score": model.score(processor, [image]).tolist(),
            "pipeline": pipe(text=messages, max_new_tokens=3, return_full_text=False)[0]["generated_text"],
        }
    print("RESULT" + json.dumps(results))
    """
)


def test_converted_checkpoints_reload_with_remote_code(tmp_path):
    image = random_image(3, (24, 20))
    image.save(tmp_path / "face.png")
    expected = {}
    for kind in KINDS:
        torch.manual_seed(0)
        model, processor = from_pretrained_vlm(save_tiny_llava(str(tmp_path / kind), kind), gac_num_queries=4)
        out = save_checkpoint(model, processor, str(tmp_path / f"ifas_{kind}"))
        expected[out] = (model.score(processor, [image]).tolist(), type(processor.image_processor).__name__)
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "face.png"), *expected],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.split("RESULT", 1)[1])
    for out, (score, image_processor) in expected.items():
        assert all(module.startswith("transformers_modules.") for module in results[out]["modules"])
        assert results[out]["image_processor"] == image_processor
        torch.testing.assert_close(torch.tensor(results[out]["score"]), torch.tensor(score))
        assert isinstance(results[out]["pipeline"], str)


def test_non_llava_checkpoint_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="model_type 'ifas', expected a 'llava' checkpoint"):
        from_pretrained_vlm(tiny_checkpoint)


def test_train_sft_starts_from_a_llava_checkpoint(tmp_path):
    from trl import ModelConfig, TrlParser

    from tiny_dataset import tiny_contract_dataset
    from train_sft import IFASScriptArguments, IFASSFTConfig, build_trainer

    folder = save_tiny_llava(str(tmp_path / "llava"), "siglip_qwen2")
    tiny_contract_dataset().save_to_disk(str(tmp_path / "data"))
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    trainer = build_trainer(*parser.parse_args_and_config(args=[
        "--vlm_model_name_or_path", folder, "--gac_num_queries", "2", "--dataset_path", str(tmp_path / "data"),
        "--output_dir", str(tmp_path / "out"), "--use_cpu", "--report_to", "none", "--use_peft", "--lora_r", "4",
        "--max_steps", "1", "--per_device_train_batch_size", "2", "--save_strategy", "no"]))
    model = trainer.model.base_model.model
    unwrapped = {re.sub(r"\.(base_layer|original_module)", "", key): value for key, value in model.state_dict().items()}
    stored = load_file(os.path.join(folder, "model.safetensors"))
    for key in ("language_model.model.layers.1.mlp.down_proj.weight", "multi_modal_projector.linear_2.weight"):
        assert torch.equal(unwrapped[ifas_name(key)], stored[key])  # under LoRA / modules_to_save wrappers
    assert model.config.num_image_tokens == 16 + 2 + 3
    assert trainer.processing_class.chat_template == AutoProcessor.from_pretrained(folder).chat_template
    trainer.train()
    assert trainer.state.global_step == 1
