"""A checkpoint that would score wrong is refused at load, naming the file (issue 21): a threshold outside (0, 1),
swapped judgment token ids, a missing folder, config or weights, a corrupt config or weights file. Run as a user
runs it: `ifas predict CKPT photo.png` in a subprocess (non-zero exit, the message on stderr), and
`AutoModel.from_pretrained(..., trust_remote_code=True)` for the config."""

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from transformers import AutoModel

from builders_fixtures import astronaut_face
from ifas.evaluation import load_model


def predict(checkpoint, image) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ifas", "predict", str(checkpoint), str(image)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture()
def copy_of(tiny_checkpoint, tmp_path):
    def copy(name: str):
        folder = tmp_path / name
        shutil.copytree(tiny_checkpoint, folder)
        return folder

    return copy


def edit_config(folder, **values):
    config = json.loads((folder / "config.json").read_text())
    config.update(values)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("threshold", [-0.2, float("-inf"), 0.0, 1.0, float("nan")])
def test_threshold_outside_zero_one_is_refused_at_load(copy_of, threshold):
    folder = copy_of("bad_threshold")
    edit_config(folder, threshold=threshold)
    with pytest.raises(ValueError, match=r"threshold must be None \(uncalibrated\) or a probability strictly between"):
        AutoModel.from_pretrained(folder, trust_remote_code=True)


def test_bad_checkpoints_are_refused_by_the_cli_naming_the_file(copy_of, tiny_model_and_processor, tmp_path):
    image = tmp_path / "face.png"
    astronaut_face(32).save(image)
    live_id, spoof_id = tiny_model_and_processor[1].judgment_token_ids()
    threshold = copy_of("threshold")
    edit_config(threshold, threshold=-0.2)
    swapped = copy_of("swapped")
    edit_config(swapped, judgment_token_ids=[spoof_id, live_id])
    missing = tmp_path / "nonexistent"
    cases = [
        (threshold, rf"{threshold / 'config.json'}: invalid checkpoint config .*threshold must be None"),
        (swapped, rf"config.judgment_token_ids \[{spoof_id}, {live_id}\] .* are not the tokenizer's ids "
                  rf"\[{live_id}, {spoof_id}\] of judgment_words \['Yes', 'No'\]"),
        (missing, rf"no such checkpoint folder: {missing}"),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time, as tests/test_entry_points.py
        results = list(pool.map(predict, [checkpoint for checkpoint, _ in cases], [image] * len(cases)))
    for (checkpoint, message), result in zip(cases, results):
        assert result.returncode != 0, checkpoint
        assert re.search(message, result.stderr), (checkpoint, result.stderr[-2000:])
        assert "Repo id must" not in result.stderr


def test_missing_or_corrupt_files_are_named_at_load(copy_of):
    no_weights = copy_of("no_weights")
    (no_weights / "model.safetensors").unlink()
    corrupt_weights = copy_of("corrupt_weights")
    data = (corrupt_weights / "model.safetensors").read_bytes()
    (corrupt_weights / "model.safetensors").write_bytes(data[: len(data) // 2])
    corrupt_config = copy_of("corrupt_config")
    (corrupt_config / "config.json").write_text('{"model_type": "ifas", ')
    no_config = copy_of("no_config")
    (no_config / "config.json").unlink()
    cases = [
        (no_weights, rf"{no_weights}: no weights file \(model.safetensors\)"),
        (corrupt_weights, rf"{corrupt_weights / 'model.safetensors'}: corrupt or unreadable weights"),
        (corrupt_config, rf"{corrupt_config / 'config.json'}: invalid checkpoint config"),
        (no_config, rf"{no_config / 'config.json'}: no such file"),
    ]
    for checkpoint, message in cases:
        with pytest.raises(ValueError, match=message):
            load_model(str(checkpoint), "cpu", "float32")
    model, _ = load_model(str(copy_of("intact")), "cpu", "float32")  # the same copy unedited loads
    assert not model.training


def test_swapped_judgment_ids_are_refused_where_model_and_processor_meet(tiny_model_and_processor):
    model, processor = tiny_model_and_processor
    saved = list(model.config.judgment_token_ids)
    model.config.judgment_token_ids = saved[::-1]
    try:
        for call in (model.score, model.judge):
            with pytest.raises(ValueError, match=r"are not the tokenizer's ids .* of judgment_words"):
                call(processor, [astronaut_face(32)])
    finally:
        model.config.judgment_token_ids = saved
    assert torch.isfinite(model.score(processor, [astronaut_face(32)])).all()
