"""Resumable, atomic, parallel builds and the CLI: an interrupted build resumes to the same dataset."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders_fixtures import make_casia, make_oulu
from datasets import Image, load_from_disk

import datasets_scripts.build as build_module
from datasets_scripts.build import build_corpus, main

NAMES = ["1", "HR_1", "3", "6", "HR_3", "7"]


def contents(path):
    """Every row of every split, images as their encoded bytes."""
    dataset = load_from_disk(str(path))
    return {split: ds.cast_column("image", Image(decode=False)).to_list() for split, ds in dataset.items()}


def checkpoints(out: Path) -> list[Path]:
    return sorted(out.with_name(out.name + ".partial").glob("shards/*/*.json"))


@pytest.fixture
def casia(tmp_path):
    return make_casia(tmp_path / "raw", train_subjects=(1, 2), test_subjects=(1,), names=NAMES)


def test_interrupted_build_resumes_to_the_same_dataset(tmp_path, casia, monkeypatch):
    build_corpus("casia_mfsd", casia, tmp_path / "reference")
    original, calls, crash_at = build_module.process_item, [], [5]

    def crash_on_fifth(item, **kwargs):
        calls.append(item.video_id)
        if len(calls) in crash_at:
            raise RuntimeError("simulated kill")
        return original(item, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(build_module, "process_item", crash_on_fifth)
    with pytest.raises(RuntimeError, match="simulated kill"):
        build_corpus("casia_mfsd", casia, out)
    assert not out.exists() and len(checkpoints(out)) == 4
    with pytest.raises(FileNotFoundError):
        load_from_disk(str(out))

    calls.clear()
    crash_at.clear()
    report = build_corpus("casia_mfsd", casia, out)
    assert len(calls) == 18 - 4
    assert contents(out) == contents(tmp_path / "reference")
    assert report["splits"]["train"]["videos"] == 12


def test_killed_cli_leaves_no_dataset_and_resumes(tmp_path, casia):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "datasets_scripts.build", "casia_mfsd", "--root", str(casia), "--out", str(out),
               "--frames", "all", "--log_level", "ERROR"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 60
    while len(checkpoints(out)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= len(checkpoints(out)) < 18 and not out.exists()

    build_corpus("casia_mfsd", casia, out, frames="all")
    build_corpus("casia_mfsd", casia, tmp_path / "reference", frames="all")
    assert contents(out) == contents(tmp_path / "reference")
    assert sum(ds.num_rows for ds in load_from_disk(str(out)).values()) == 18 * 20


def test_parallel_build_equals_serial(tmp_path, casia):
    build_corpus("casia_mfsd", casia, tmp_path / "serial")
    report = build_corpus("casia_mfsd", casia, tmp_path / "parallel", num_proc=2)
    assert contents(tmp_path / "parallel") == contents(tmp_path / "serial")
    assert report["splits"]["test"]["frames"] == 12


def test_finished_build_is_kept_and_options_cannot_mix(tmp_path, casia, monkeypatch):
    out = tmp_path / "out"
    first = build_corpus("casia_mfsd", casia, out)
    monkeypatch.setattr(build_module, "process_item", lambda *a, **k: pytest.fail("a finished build was redone"))
    assert build_corpus("casia_mfsd", casia, out) == first
    monkeypatch.undo()

    rebuilt = build_corpus("casia_mfsd", casia, out, frames="first_last", overwrite=True)
    assert rebuilt["settings"]["frames"] == "first_last"
    assert set(load_from_disk(str(out))["train"]["frame_index"]) == {0, 19}

    partial = tmp_path / "other.partial"
    partial.mkdir()
    (partial / "build_settings.json").write_text('{"corpus": "casia_mfsd", "frames": "all"}')
    with pytest.raises(ValueError, match="unfinished build with other options"):
        build_corpus("casia_mfsd", casia, tmp_path / "other")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(FileExistsError, match="not a finished build"):
        build_corpus("casia_mfsd", casia, tmp_path / "foreign")


def test_cli(tmp_path, capsys):
    make_oulu(tmp_path / "raw")
    out = tmp_path / "data" / "oulu_npu"
    report = main(["oulu_npu", "--root", str(tmp_path / "raw"), "--out", str(out), "--frames", "uniform:3",
                   "--image_format", "jpeg", "--size", "112", "--detector", "none", "--log_level", "WARNING"])
    assert "| train | 5 | 15 |" in capsys.readouterr().out
    assert report["settings"] == {"frames": "uniform:3", "scale": 1.3, "size": 112, "image_format": "jpeg", "detector": "none"}
    image = load_from_disk(str(out))["dev"][0]["image"]
    assert image.size == (112, 112) and image.format == "JPEG"
    with pytest.raises(SystemExit):
        main(["nuaa", "--root", "x", "--out", "y"])
