"""Model card rendering from results.json and the Hub upload, with the network calls mocked."""

import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import huggingface_hub.hf_api  # noqa: E402
import pytest  # noqa: E402
from huggingface_hub import HfApi, ModelCard  # noqa: E402

from ifas.reporting import build_results, render_model_card, write_tables  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "push_to_hub.py"
REMOTE_CODE = ["configuration_ifas.py", "modeling_ifas.py", "processing_ifas.py"]


@pytest.fixture(scope="module")
def push_to_hub():
    spec = importlib.util.spec_from_file_location("push_to_hub", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def results():
    records = [{"score": s, "label": l, "attack_type": a} for s, l, a in
               [(0.9, 0, "none"), (0.8, 0, "none"), (0.6, 0, "none"), (0.7, 1, "print"), (0.2, 1, "replay")]]
    return build_results({"MSU-MFSD": records, "OULU-NPU": records[::-1]}, threshold=0.65, model="tiny", protocol="P2")


@pytest.fixture
def checkpoint(tmp_path, results):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    auto_map = {"AutoConfig": "configuration_ifas.IfasConfig", "AutoModel": "modeling_ifas.IfasForConditionalGeneration",
                "AutoModelForImageTextToText": "modeling_ifas.IfasForConditionalGeneration"}
    (folder / "config.json").write_text(json.dumps({"model_type": "ifas", "auto_map": auto_map}))
    (folder / "processor_config.json").write_text(json.dumps({"auto_map": {"AutoProcessor": "processing_ifas.IfasProcessor"}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": [None, "PreTrainedTokenizerFast"]}}))
    for name in REMOTE_CODE:
        (folder / name).write_text(f'"""stub {name}"""\n')
    (folder / "generation_config.json").write_text("{}")
    (folder / "optimizer.pt").write_text("not uploaded")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "modeling_ifas.cpython-311.pyc").write_text("not uploaded")
    write_tables(results, tmp_path / "report")
    return folder


def test_card_has_metadata_results_usage_and_limits(results):
    card = render_model_card(results, repo_id="me/ifas-tiny", datasets=["me/celeba-spoof"], base_model="org/base")
    data = ModelCard(card).data.to_dict()
    assert data["pipeline_tag"] == "image-text-to-text" and data["library_name"] == "transformers"
    assert data["license"] == "apache-2.0" and data["datasets"] == ["me/celeba-spoof"]
    assert data["metrics"] == ["hter", "auc"] and "face-anti-spoofing" in data["tags"]
    msu = results["targets"]["MSU-MFSD"]
    assert f"| MSU-MFSD | {100 * msu['hter']:.2f} | {100 * msu['auc']:.2f} | {100 * msu['hter_oracle']:.2f} |" in card
    assert "| **Average** |" in card and "operating threshold **0.65**" in card
    assert 'AutoModel.from_pretrained("me/ifas-tiny", trust_remote_code=True)' in card
    assert 'pipeline("image-text-to-text", model="me/ifas-tiny", trust_remote_code=True)' in card
    assert "p_live = model.score(processor, [\"face.jpg\"])" in card and "threshold: 0.65" in card
    for limit in ("Threshold calibration", "demographic bias", "Not a sole defence", "Typographic"):
        assert limit in card


def test_push_uploads_the_folder_with_card_and_remote_code(monkeypatch, checkpoint, push_to_hub):
    calls = {}
    monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("repo", (repo_id, kw)))
    monkeypatch.setattr(HfApi, "create_commit", lambda self, **kw: calls.setdefault("commit", kw))
    results_json = checkpoint.parent / "report" / "results.json"
    push_to_hub.main([str(checkpoint), "--repo-id", "me/ifas-tiny", "--results", str(results_json),
                      "--dataset", "me/celeba-spoof", "--private"])
    assert calls["repo"] == ("me/ifas-tiny", {"private": True, "exist_ok": True, "repo_type": "model"})
    commit = calls["commit"]
    assert commit["repo_id"] == "me/ifas-tiny"
    uploaded = sorted(op.path_in_repo for op in commit["operations"])
    assert uploaded == sorted(["README.md", "results.json", "config.json", "processor_config.json",
                               "tokenizer_config.json", "generation_config.json", *REMOTE_CODE])
    card = (checkpoint / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: image-text-to-text" in card and "| OULU-NPU |" in card
    assert json.loads((checkpoint / "results.json").read_text())["protocol"] == "P2"


def test_missing_remote_code_is_refused_before_any_upload(monkeypatch, checkpoint, push_to_hub):
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **kw: pytest.fail("must not create a repo"))
    (checkpoint / "modeling_ifas.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"\['modeling_ifas.py'\] but they are missing"):
        push_to_hub.push_checkpoint(checkpoint, "me/ifas-tiny", results_path=checkpoint.parent / "report" / "results.json")


def test_relative_imports_of_the_remote_code_are_required(checkpoint, push_to_hub):
    (checkpoint / "processing_ifas.py").write_text("try:\n    from .image_io_ifas import load_image\nexcept ImportError:\n"
                                                   "    from image_io_ifas import load_image\n")
    with pytest.raises(FileNotFoundError, match=r"\['image_io_ifas.py'\] but they are missing"):
        push_to_hub.check_remote_code(checkpoint)
    (checkpoint / "image_io_ifas.py").write_text('"""stub decoder"""\n')
    assert push_to_hub.check_remote_code(checkpoint) == sorted([*REMOTE_CODE, "image_io_ifas.py"])


def test_dry_run_writes_the_card_only(monkeypatch, checkpoint, push_to_hub):
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **kw: pytest.fail("must not create a repo"))
    assert push_to_hub.main([str(checkpoint), "--repo-id", "me/x", "--results",
                             str(checkpoint.parent / "report" / "results.json"), "--dry-run"]) == 0
    assert "# x" in (checkpoint / "README.md").read_text()
