"""Evaluation, prediction and SCF captioning over two gloo processes (one ``accelerate launch``, the three command
lines run in its processes by sharded_jobs_worker.py) equal one process; interrupted runs resume from their parts."""

import collections
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
from PIL import Image

import ifas.cli as ifas_cli
from ifas import evaluation as evaluate_fas
from datasets_scripts.contract import FEATURES, make_record
from datasets_scripts.scf.__main__ import main as scf_main
from datasets_scripts.scf.tiny_captioner import save_tiny_llava_captioner
from modeling_ifas import IFASForConditionalGeneration
from test_evaluate_fas import corrupt_row, write_video
from tiny_dataset import tiny_contract_dataset
from tiny_inputs import random_image

REPO = Path(__file__).resolve().parents[1]
ATTACKS = [("none", ""), ("print", "printed_photo"), ("replay", "ipad_video"), ("mask", "silicone"), ("none", "")]


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def made(run: subprocess.CompletedProcess, job: str) -> collections.Counter:
    """How often the launched processes made each (target, row or path) of `job` (sharded_jobs_worker.py)."""
    found = re.findall(r"MADE (\S+) (\S+) (\S+)$", run.stderr, re.MULTILINE)  # after a progress bar's \r too
    return collections.Counter((target, item) for name, target, item in found if name == job)


def assert_close(got, expected, where) -> None:
    """Equal, floats (in dicts and lists too) within 1e-6: the last float bits follow the number of threads."""
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            assert_close(got[key], expected[key], (*where, key))
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for position, (a, b) in enumerate(zip(got, expected)):
            assert_close(a, b, (*where, position))
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9, nan_ok=True), where
    else:
        assert got == expected, where


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """data/: a target with 7 rows (one unreadable) and a dev set; photos/: 5 images (one corrupt) and a video;
    corpus/: an SCF corpus of 5 + 2 rows; captioner/: a tiny random LLaVA."""
    root = tmp_path_factory.mktemp("inputs")
    data = tiny_contract_dataset(n_per_split=6)
    data["train"] = concatenate_datasets([data["train"], Dataset.from_list([corrupt_row()], features=FEATURES)])
    data.save_to_disk(str(root / "data"))
    photos = root / "photos"
    photos.mkdir()
    for seed in range(4):
        random_image(seed).save(photos / f"face{seed}.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_video(photos / "clip.avi", n_frames=8)
    rows = [make_record(image=Image.new("RGB", (32, 32), (40 * i, 120, 200 - 30 * i)), label=int(attack != "none"),
                        attack_type=attack, attack_detail=detail, dataset="toy", split="train", subject=f"s{i}",
                        video_id=f"v{i}", frame_index=i)
            for i, (attack, detail) in enumerate(ATTACKS)]
    DatasetDict(train=Dataset.from_list(rows, features=FEATURES),
                test=Dataset.from_list([r | {"split": "test"} for r in rows[:2]], features=FEATURES),
                ).save_to_disk(str(root / "corpus"))
    save_tiny_llava_captioner(root / "captioner")
    return root


def command_lines(inputs: Path, checkpoint: str, out: Path) -> dict[str, list[str]]:
    return {
        "evaluate_fas": ["--model", checkpoint, "--dataset", f"{inputs / 'data'}:train", "--dev_dataset",
                         str(inputs / "data"), "--out", str(out / "report"), "--batch_size", "2", "--explain", "1",
                         "--max_new_tokens", "2"],
        "ifas": ["predict", checkpoint, str(inputs / "photos"), "--out", str(out / "predictions.jsonl"),
                 "--batch_size", "2"],
        "scf": ["--dataset", str(inputs / "corpus"), "--captioner", str(inputs / "captioner"), "--out",
                str(out / "captioned"), "--batch_size", "2", "--shard_size", "2", "--max_new_tokens", "5"],
    }


@pytest.fixture(scope="module")
def one_process(inputs, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    lines = command_lines(inputs, tiny_checkpoint, out)
    evaluate_fas.main(lines["evaluate_fas"])
    assert ifas_cli.main(lines["ifas"]) == 0
    assert scf_main(lines["scf"]) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(inputs, tiny_checkpoint, one_process, tmp_path_factory):
    """Two gloo processes run the three jobs; an interrupted earlier run left prediction parts: process 1's with a
    finished line (marked, so that its reuse shows) and a torn one, and a part of a run with four processes."""
    out = tmp_path_factory.mktemp("two")
    reference = read_lines(one_process / "predictions.jsonl")
    (out / "predictions.jsonl.part-1").write_text(json.dumps(reference[4] | {"seeded": True}) + '\n{"path": "/tor')
    (out / "predictions.jsonl.part-3").write_text(json.dumps(reference[2] | {"seeded": True}) + "\n")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), str(REPO / "tests" / "sharded_jobs_worker.py")]
    jobs = [json.dumps([name, *argv]) for name, argv in command_lines(inputs, tiny_checkpoint, out).items()]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(launch + jobs, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return out, run


def test_evaluation_equals_one_process_each_image_scored_once(one_process, two_processes):
    out, run = two_processes
    single, sharded = (json.loads((root / "report" / "results.json").read_text()) for root in (one_process, out))
    assert sharded["threshold"] == pytest.approx(single["threshold"])
    assert sharded["targets"].keys() == single["targets"].keys()
    for name, metrics in single["targets"].items():
        for metric, value in metrics.items():
            assert_close(sharded["targets"][name][metric], value, (name, metric))
    assert sharded["targets"]["data:train"]["num_samples"] == 6
    assert sharded["targets"]["data:train"]["num_unreadable"] == 1
    each_once = [("data:train", str(row)) for row in range(7)] + [("dev", str(row)) for row in range(6)]
    assert made(run, "evaluate") == collections.Counter(each_once)  # each image scored once, no padding
    for name in ("data_train.jsonl", "dev.jsonl"):
        single_scores, sharded_scores = (read_lines(root / "report" / "scores" / name)[1:]
                                         for root in (one_process, out))
        assert [r["row"] for r in sharded_scores] == list(range(len(single_scores)))  # each row once, in order
        for got, expected in zip(sharded_scores, single_scores):
            assert got.keys() == expected.keys() and got.get("score") == pytest.approx(expected.get("score"), abs=1e-6)
    assert not list((out / "report" / "scores").glob("*.part-*"))
    produced = {path.name for path in (out / "report").iterdir()}
    assert produced == {path.name for path in (one_process / "report").iterdir()}
    assert len(json.loads((out / "report" / "explanations.json").read_text())["targets"]["data:train"]["samples"]) == 2


def test_prediction_equals_one_process_and_resumes_from_parts(one_process, two_processes):
    out, run = two_processes
    single, sharded = read_lines(one_process / "predictions.jsonl"), read_lines(out / "predictions.jsonl")
    assert [r["path"] for r in sharded] == [r["path"] for r in single]  # every input once, in input order
    assert [r["path"] for r in sharded if r.pop("seeded", False)] == [single[2]["path"], single[4]["path"]]
    each_once = [("-", r["path"]) for position, r in enumerate(single) if position not in (2, 4)]
    assert made(run, "predict") == collections.Counter(each_once)  # the rest, each once by one of the processes
    for got, expected in zip(sharded, single):
        assert got.keys() == expected.keys()
        scores = ("p_live", "margin", "frame_p_live")
        assert {k: v for k, v in got.items() if k not in scores} == {k: v for k, v in expected.items() if k not in scores}
        for key in set(scores) & set(got):
            assert got[key] == pytest.approx(expected[key], abs=1e-6)
    assert not list(out.glob("predictions.jsonl.part-*"))
    scored = sum(r["p_live"] is not None for r in single)
    assert f"ifas predict: 6 inputs, {scored} scored, " in run.stderr
    assert "(2 of them from an earlier run)" in run.stderr
    assert run.stderr.count("ifas predict: ") == 1  # one summary, by the main process


def test_captioning_equals_one_process(one_process, two_processes):
    out, _ = two_processes
    shard_files = {path.relative_to(one_process / "captioned_scf_work")
                   for path in (one_process / "captioned_scf_work").rglob("shard-*.jsonl")}
    assert len(shard_files) == 4  # general/train: 3 shards of 2 rows, general/test: 1
    for name in shard_files:
        assert (out / "captioned_scf_work" / name).read_bytes() == (
            one_process / "captioned_scf_work" / name).read_bytes()
    single, sharded = load_from_disk(str(one_process / "captioned")), load_from_disk(str(out / "captioned"))
    for split in single:
        assert sharded[split]["caption"] == single[split]["caption"]
        assert sharded[split]["caption_source"] == single[split]["caption_source"]


def test_scores_resume_from_the_parts_of_a_killed_two_process_run(one_process, inputs, tiny_model_and_processor,
                                                                   tmp_path, monkeypatch):
    model, processor = tiny_model_and_processor
    reference = (one_process / "report" / "scores" / "data_train.jsonl").read_text().splitlines(keepends=True)
    header, records = reference[0], reference[1:]
    cache = tmp_path / "data_train.jsonl"
    Path(f"{cache}.part-0").write_text(header + "".join(records[:2]) + records[2][:15])  # killed writing row 2
    Path(f"{cache}.part-1").write_text(header + "".join(records[4:6]))  # killed before row 6
    scored_rows = []
    real = IFASForConditionalGeneration.score_inputs

    def counting(self, input_ids, *args, **kwargs):
        scored_rows.append(len(input_ids))
        return real(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(IFASForConditionalGeneration, "score_inputs", counting)
    dataset = load_from_disk(str(inputs / "data"))["train"]
    resumed = evaluate_fas.score_dataset(model, processor, dataset, 8, cache_path=cache)
    assert scored_rows == [2]  # rows 2 and 3; row 6 is the unreadable one, rows 0, 1, 4, 5 come from the parts
    assert [r["row"] for r in resumed] == list(range(7)) and "error" in resumed[6]
    for got, line in zip(resumed, records):
        assert got.get("score") == pytest.approx(json.loads(line).get("score"), abs=1e-6)
    assert cache.read_text().count("\n") == 8 and not list(tmp_path.glob("*.part-*"))


def test_prediction_resumes_from_the_parts_of_a_killed_two_process_run(one_process, inputs, tiny_checkpoint,
                                                                       tmp_path):
    reference = read_lines(one_process / "predictions.jsonl")
    out = tmp_path / "predictions.jsonl"
    Path(f"{out}.part-0").write_text(json.dumps(reference[0]) + "\n" + json.dumps(reference[1])[:30])
    Path(f"{out}.part-1").write_text(json.dumps(reference[4] | {"seeded": True}) + "\n")
    assert ifas_cli.main(["predict", tiny_checkpoint, str(inputs / "photos"), "--out", str(out)]) == 0
    resumed = read_lines(out)
    assert [r["path"] for r in resumed] == [r["path"] for r in reference]  # every input once, in input order
    assert [r["path"] for r in resumed if r.pop("seeded", False)] == [reference[4]["path"]]  # reused, not redone
    for got, expected in zip(resumed, reference):
        assert got["p_live"] == pytest.approx(expected["p_live"], abs=1e-6)
    assert not list(tmp_path.glob("predictions.jsonl.part-*"))
