"""A saved checkpoint loads through the Auto classes and the pipeline with trust_remote_code, in a fresh process."""

import json
import subprocess
import sys
import textwrap

import torch

from tiny_inputs import random_image

FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor, pipeline

    path, image_path = sys.argv[1], sys.argv[2]
    image = Image.open(image_path)
    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)
    results = {"processor": type(processor).__module__}
    for name, auto in (("auto_model", AutoModel), ("auto_itt", AutoModelForImageTextToText)):
        model = auto.from_pretrained(path, trust_remote_code=True)
        results[name + "_module"] = type(model).__module__
        results[name] = model.score(processor, [image]).tolist()
    pipe = pipeline("image-text-to-text", model=path, trust_remote_code=True)
    messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                             {"type": "text", "text": "Is this photo of a real person?"}]}]
    results["pipeline"] = pipe(text=messages, max_new_tokens=4, return_full_text=False)[0]["generated_text"]
    print("RESULT" + json.dumps(results))
    """
)


def test_auto_classes_and_pipeline_in_fresh_process(tmp_path, tiny_checkpoint, tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    image = random_image(21)
    image_path = tmp_path / "face.png"
    image.save(image_path)
    expected = model.score(processor, [image]).tolist()
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, tiny_checkpoint, str(image_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.split("RESULT", 1)[1])
    for name in ("auto_model", "auto_itt"):
        assert results[name + "_module"].startswith("transformers_modules.")  # the checkpoint's own code
        torch.testing.assert_close(torch.tensor(results[name]), torch.tensor(expected))
    assert results["processor"].startswith("transformers_modules.")
    assert isinstance(results["pipeline"], str)


def test_checkpoint_folder_is_complete(tiny_checkpoint):
    import os

    files = set(os.listdir(tiny_checkpoint))
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "chat_template.jinja",
            "configuration_ifas.py", "modeling_ifas.py", "processing_ifas.py", "image_io_ifas.py",
            "validation_ifas.py", "heatmap_ifas.py"} <= files  # the decoder, checks and heat maps travel along
    processor_config = json.load(open(os.path.join(tiny_checkpoint, "processor_config.json")))
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_ifas.IFASProcessor"


def test_make_tiny_checkpoint_script(tmp_path):
    run = subprocess.run(
        [sys.executable, "scripts/make_tiny_checkpoint.py", "--out", str(tmp_path / "ck"), "--tower", "clip"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "ck" / "model.safetensors").exists()
