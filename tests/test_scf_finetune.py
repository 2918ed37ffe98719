"""SCF step 4: fine-tuning a (tiny, random) general captioner into C_S, and the --finetune flow end to end."""

import json

import torch
from datasets import Dataset, DatasetDict
from transformers import AutoModelForImageTextToText, pipeline

from datasets_scripts.contract import FEATURES, make_record
from datasets_scripts.scf.finetune import MARKER, finetune_captioner
from datasets_scripts.scf.flow import run_scf
from datasets_scripts.scf.tiny_captioner import save_tiny_llava_captioner
from tiny_dataset import tiny_image


def kept_rows(n=4):
    rows = [make_record(image=tiny_image(i % 2, i), label=i % 2, attack_type="print" if i % 2 else "none",
                        attack_detail="printed_photo" if i % 2 else "", dataset="tiny", split="train",
                        subject=f"s{i}", video_id=f"v{i}",
                        caption="The face is printed on paper with halftone dots." if i % 2 else
                        "Natural skin texture with real depth.", caption_source="general:tiny")
            for i in range(n)]
    return Dataset.from_list(rows, features=FEATURES)


def test_finetune_trains_saves_and_is_reused(tmp_path):
    base = save_tiny_llava_captioner(tmp_path / "c_g")
    out = finetune_captioner(kept_rows(), base, str(tmp_path / "c_s"), max_steps=3, learning_rate=1e-2)
    marker = json.loads((tmp_path / "c_s" / MARKER).read_text())
    assert marker["steps"] == 3 and marker["rows"] == 4
    tuned = AutoModelForImageTextToText.from_pretrained(out)
    original = AutoModelForImageTextToText.from_pretrained(base)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), original.state_dict().values()))
    pipe = pipeline("image-text-to-text", model=out)
    messages = [{"role": "user", "content": [{"type": "image", "image": tiny_image(1, 9)},
                                             {"type": "text", "text": "Describe."}]}]
    assert isinstance(pipe(text=messages, max_new_tokens=3)[0]["generated_text"], list)
    assert finetune_captioner(kept_rows(), base, str(tmp_path / "c_s"), max_steps=99) == out  # reused, no retrain
    assert json.loads((tmp_path / "c_s" / MARKER).read_text())["steps"] == 3


def test_scf_flow_with_finetune_runs_end_to_end(tmp_path, monkeypatch):
    base = save_tiny_llava_captioner(tmp_path / "c_g")
    dataset = DatasetDict({"train": kept_rows(6).map(lambda r: {"caption": "", "caption_source": ""})})
    # the random captioner's gibberish never passes the filter; make the general stage keep some captions so the
    # fine-tune path runs: pretend C_G wrote the reference captions for the spoof rows
    from datasets_scripts.scf import flow

    real_stage = flow._run_stage

    def stage_with_kept_spoofs(dataset, rows, targets, captioner, stage, state, work_dir, shard_size):
        real_stage(dataset, rows, targets, captioner, stage, state, work_dir, shard_size)
        if stage == "general":
            for i, row in enumerate(rows["train"]):
                if row["label"] == 1:
                    state["train"][i]["caption"] = ("The face is printed on paper with halftone dots.",
                                                    captioner.source)

    monkeypatch.setattr(flow, "_run_stage", stage_with_kept_spoofs)
    captioned, report = run_scf(dataset, base, tmp_path / "work", finetune=True, batch_size=2, max_new_tokens=4)
    sources = set(captioned["train"]["caption_source"])
    assert (tmp_path / "work" / "spoof_aware_captioner" / MARKER).exists()
    assert "template" in sources  # live rows: C_S gibberish rejected, template fallback
    assert all(captioned["train"]["caption"])
    assert report
