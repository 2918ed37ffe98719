"""SCF end to end on a tiny generated contract dataset with a tiny random LLaVA captioner saved locally."""

import importlib.machinery
import json
import sys
import types

import pytest
from datasets import Dataset, DatasetDict, load_from_disk
from PIL import Image

from datasets_scripts.contract import FEATURES, check_dataset, make_record
from datasets_scripts.scf import flow
from datasets_scripts.scf.__main__ import main
from datasets_scripts.scf.caption_filter import keep_caption
from datasets_scripts.scf.pipeline_captioner import PipelineCaptioner, build_prompt, clean_caption
from datasets_scripts.scf.template_captioner import template_caption_for_row
from datasets_scripts.scf.tiny_captioner import save_tiny_llava_captioner

ATTACKS = [("none", ""), ("print", "printed_photo"), ("replay", "ipad_video"), ("mask", "silicone"),
           ("mask", "Mc"), ("none", ""), ("makeup", "Im"), ("partial", "Funnyeye")]


class Interrupted(BaseException):
    """A simulated kill (not an Exception, so the per-row error handling does not swallow it)."""


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def captioner_path(tmp_path_factory):
    return save_tiny_llava_captioner(tmp_path_factory.mktemp("captioner") / "tiny-llava")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    rows = [
        make_record(image=Image.new("RGB", (32, 32), (30 * i, 120, 200 - 20 * i)), label=0 if attack == "none" else 1,
                    attack_type=attack, attack_detail=detail, dataset="toy" if i % 2 else "demo", split="train",
                    subject=f"s{i}", video_id=f"v{i}", frame_index=i)
        for i, (attack, detail) in enumerate(ATTACKS)
    ]
    train = Dataset.from_list(rows, features=FEATURES)
    test = Dataset.from_list([r | {"split": "test"} for r in rows[:3]], features=FEATURES)
    path = tmp_path_factory.mktemp("data") / "corpus"
    DatasetDict(train=train, test=test).save_to_disk(str(path))
    return path


def _shard_captions(work_dir):
    return {p.relative_to(work_dir).as_posix(): p.read_text() for p in sorted(work_dir.rglob("shard-*.jsonl"))}


def test_pipeline_gibberish_is_rejected_and_the_template_fills_in(dataset_dir, captioner_path, tmp_path):
    out = tmp_path / "out"
    assert main(["--dataset", str(dataset_dir), "--captioner", captioner_path, "--out", str(out),
                 "--batch_size", "4", "--shard_size", "3", "--max_new_tokens", "6"]) == 0
    source, captioned = load_from_disk(str(dataset_dir)), load_from_disk(str(out))
    check_dataset(captioned)
    assert list(captioned) == ["train", "test"]
    shards = _shard_captions(tmp_path / "out_scf_work")
    assert len(shards) == 4  # train: 8 rows / 3 per shard, test: 3 rows
    raw = [json.loads(line)["caption"] for text in shards.values() for line in text.splitlines()]
    assert len(raw) == 11 and all(isinstance(c, str) for c in raw)
    for split in captioned:
        assert captioned[split].features == source[split].features
        for column in ("label", "attack_type", "attack_detail", "dataset", "subject", "video_id", "frame_index"):
            assert captioned[split][column] == source[split][column]
        assert set(captioned[split]["caption_source"]) == {"template"}
        for row in captioned[split].select_columns([c for c in FEATURES if c != "image"]):
            assert row["caption"] == template_caption_for_row(row, seed=0)
            assert keep_caption(row["caption"], row["label"], row["attack_type"], row["attack_detail"])
    report = json.loads((out / "scf_report.json").read_text())
    assert report["rows"] == 11
    assert report["caption_source"] == {"template": 11}
    assert report["stages"]["general"]["captioned"] == 11
    assert report["stages"]["general"]["kept"] == 0
    assert report["settings"]["captioner"] == captioner_path
    groups = {(g["dataset"], g["attack_type"]): g for g in report["by_dataset_and_attack_type"]}
    assert groups[("demo", "none")]["rows"] == 2 and groups[("demo", "none")]["general"]["kept_ratio"] == 0.0
    assert "| demo | none | 2 |" in (out / "scf_report.md").read_text()


def test_resume_after_interruption_gives_the_same_captions(dataset_dir, captioner_path, tmp_path, monkeypatch):
    dataset = load_from_disk(str(dataset_dir))
    options = {"batch_size": 2, "shard_size": 3, "max_new_tokens": 6}
    straight, _ = flow.run_scf(dataset, captioner_path, tmp_path / "straight", **options)

    calls, interrupt = [], [True]
    original = PipelineCaptioner.caption

    def interrupted_after_first_shard(self, rows):
        calls.append(len(rows))
        if interrupt[0] and len(calls) == 2:
            raise Interrupted
        return original(self, rows)

    monkeypatch.setattr(PipelineCaptioner, "caption", interrupted_after_first_shard)
    with pytest.raises(Interrupted):
        flow.run_scf(dataset, captioner_path, tmp_path / "resumed", **options)
    assert len(_shard_captions(tmp_path / "resumed")) == 1

    calls.clear()
    interrupt[0] = False
    resumed, _ = flow.run_scf(dataset, captioner_path, tmp_path / "resumed", **options)
    assert len(calls) == 3  # the finished shard is not captioned again
    assert _shard_captions(tmp_path / "resumed") == _shard_captions(tmp_path / "straight")
    for split in straight:
        assert resumed[split]["caption"] == straight[split]["caption"]


def test_changed_settings_do_not_mix_with_old_shards(dataset_dir, captioner_path, tmp_path):
    dataset = load_from_disk(str(dataset_dir))
    flow.run_scf(dataset, captioner_path, tmp_path / "work", shard_size=4, max_new_tokens=4)
    with pytest.raises(ValueError, match="other rows or settings"):
        flow.run_scf(dataset, captioner_path, tmp_path / "work", shard_size=4, max_new_tokens=4,
                     prompt_mode="generic")


def test_finetune_flow_keeps_good_captions_and_recaptions_with_c_s(dataset_dir, tmp_path, monkeypatch):
    def fake_caption(self, rows):
        good = self.source.startswith("spoof_aware") or {r["attack_type"] for r in rows} <= {"print"}
        return [template_caption_for_row(r, seed=7) if good and r["attack_type"] in ("print", "none", "mask")
                else "zzz qqq" for r in rows]

    received = {}

    def fake_finetune(kept, captioner, output_dir, **kwargs):
        received.update(kept=kept, captioner=captioner)
        return output_dir

    module = types.ModuleType(flow.FINETUNE_MODULE)
    module.__spec__ = importlib.machinery.ModuleSpec(flow.FINETUNE_MODULE, None)
    module.finetune_captioner = fake_finetune
    monkeypatch.setitem(sys.modules, flow.FINETUNE_MODULE, module)
    monkeypatch.setattr(PipelineCaptioner, "caption", fake_caption)
    dataset = load_from_disk(str(dataset_dir))
    captioned, report = flow.run_scf(dataset, "base-vlm", tmp_path / "work", finetune=True, shard_size=1)

    assert received["captioner"] == "base-vlm"
    assert set(received["kept"]["attack_type"]) == {"print"}
    assert all(keep_caption(c, 1, "print") for c in received["kept"]["caption"])
    c_s = f"spoof_aware:{tmp_path / 'work' / 'spoof_aware_captioner'}"
    sources = dict(zip(captioned["train"]["attack_type"], captioned["train"]["caption_source"]))
    assert sources["print"] == "general:base-vlm"
    assert sources["none"] == c_s and sources["mask"] == c_s
    assert sources["replay"] == "template" and sources["makeup"] == "template"
    assert report["stages"]["spoof_aware"]["captioned"] == 9  # 11 rows minus the 2 kept print rows
    assert report["caption_source"]["general:base-vlm"] == 2
    assert (tmp_path / "work" / "spoof_aware_captioner.json").exists()


def test_cli_finetune_without_the_module_fails_clearly(dataset_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(flow, "FINETUNE_MODULE", "datasets_scripts.scf.no_such_finetune")
    with pytest.raises(SystemExit, match="finetune_captioner"):
        main(["--dataset", str(dataset_dir), "--captioner", "some-vlm", "--finetune", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_cli_template_captioner_is_deterministic_per_seed(dataset_dir, tmp_path):
    for name, seed in (("a", "0"), ("b", "0"), ("c", "5")):
        assert main(["--dataset", str(dataset_dir), "--captioner", "template", "--out", str(tmp_path / name),
                     "--seed", seed]) == 0
    a, b, c = (load_from_disk(str(tmp_path / n))["train"]["caption"] for n in "abc")
    assert a == b and a != c
    assert set(load_from_disk(str(tmp_path / "a"))["train"]["caption_source"]) == {"template"}
    with pytest.raises(ValueError, match="template"):
        flow.run_scf(load_from_disk(str(dataset_dir)), "template", tmp_path / "w", finetune=True)


def test_prompts_and_caption_cleaning():
    assert "silicone" in build_prompt("mask", "silicone", "attack_aware")
    assert "live" in build_prompt("none", "", "attack_aware")
    assert build_prompt("print", "", "spoof_aware") == build_prompt("none", "", "spoof_aware")
    with pytest.raises(ValueError, match="prompt mode"):
        build_prompt("print", "", "telepathic")
    assert clean_caption("  No,  the face is\nprinted. ") == "The face is printed."
    assert clean_caption("Yes") == ""
