"""`ifas adapt` end to end on a tiny checkpoint and tiny folders, run as a user runs it (a subprocess), and its clear
errors: the check part never trains and never sets the threshold, sub-folders stay whole."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModel

from ifas.fas_metrics import choose_threshold
from ifas.train.adapt import adapt
from ifas.train.adapt_data import collect_captures, split_captures
from tiny_dataset import tiny_image

REPO = Path(__file__).resolve().parents[1]
IFAS = Path(sys.executable).with_name("ifas")


def make_captures(root: Path, groups: dict[str, int], label: int, seed: int) -> Path:
    """`root/<group>/<i>.png` tiny images (a sub-folder per person or session)."""
    for g, (group, count) in enumerate(groups.items()):
        (root / group).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            tiny_image(label, seed + 100 * g + i).save(root / group / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    root = tmp_path_factory.mktemp("captures")
    live = make_captures(root / "live", {"ann": 4, "bob": 4, "cem": 4}, 0, 0)
    prints = make_captures(root / "prints", {"sheet1": 4, "sheet2": 4, "sheet3": 4}, 1, 5000)
    return live, prints


def test_ifas_adapt_subprocess_writes_a_checkpoint_and_a_report_without_touching_the_check_part(
        tiny_checkpoint, captures, tmp_path):
    live, prints = captures
    out = tmp_path / "adapted"
    run = subprocess.run([str(IFAS), "adapt", tiny_checkpoint, "--live", str(live), "--spoof", f"print={prints}",
                          "--out", str(out), "--max_steps", "2", "--min_images_per_class", "4", "--explain", "2"],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "check part AUC" in run.stdout and "adapt_report.md" in run.stdout
    model = AutoModel.from_pretrained(str(out), trust_remote_code=True)
    report = json.loads((out / "adapt_report.json").read_text())
    split = json.loads((out / "adapt_split.json").read_text())
    assert set(report["before"]) >= {"auc", "hter", "apcer", "bpcer"} and set(report["after"]) >= {"auc", "hter"}
    assert (out / "adapt_report.md").read_text().count("|") > 10 and (out / "adapt_histograms.png").stat().st_size
    adaptation, check = set(split["adaptation"]), set(split["check"])
    assert adaptation and check and not adaptation & check
    assert len(adaptation) + len(check) == 24
    # The connector warm-starts on every adaptation capture and its 16 variations (--augment's default), nothing else.
    assert f"warm-started the connector on {17 * len(adaptation)} images" in run.stderr
    for folder in [*live.iterdir(), *prints.iterdir()]:  # every sub-folder lies wholly on one side
        files = {str(f) for f in folder.iterdir()}
        assert files <= adaptation or files <= check, folder
    assert {Path(p).parent.parent for p in check} == {live, prints}  # both classes in the check part
    # The adapted model decides on the mean margin of each face and its mirror (score below does the same), and the
    # threshold is the operating threshold of its scores on the adaptation part, recomputed here.
    assert model.config.test_time_mirror is True
    from processing_ifas import IFASProcessor

    processor = IFASProcessor.from_pretrained(str(out), trust_remote_code=True)
    paths = sorted(adaptation)
    scores = model.score(processor, paths, crop_faces=False).tolist()
    labels = [0 if Path(p).parent.parent == live else 1 for p in paths]
    assert model.config.threshold == pytest.approx(choose_threshold(scores, labels), rel=1e-6)  # batches differ
    assert 0.0 < model.config.threshold < 1.0 and report["threshold"] == model.config.threshold
    assert len(report["answers"]) == 2 and all(a["judgment"] in ("Yes", "No") for a in report["answers"])


def test_split_holds_out_whole_groups_of_both_classes(captures):
    live, prints = captures
    everything = collect_captures([live], {"print": [prints]})
    for seed in range(5):
        adaptation, check = split_captures(everything, 0.3, seed)
        assert {c.label for c in check} == {0, 1} and {c.label for c in adaptation} == {0, 1}
        assert not {c.group for c in adaptation} & {c.group for c in check}
        assert len({c.group for c in check}) == 2  # round(0.3 * 3) = 1 group per class


def test_overlapping_live_and_spoof_folders_are_refused(captures):
    live, _ = captures
    with pytest.raises(ValueError, match=r"live path .*live and spoof path .*ann overlap"):
        collect_captures([live], {"print": [live / "ann"]})


def test_a_check_part_with_one_class_is_refused(captures):
    live, prints = captures
    with pytest.raises(ValueError, match="check part would have no spoof capture: 1 spoof group"):
        split_captures(collect_captures([live], {"print": [prints / "sheet1" / "0.png"]}), 0.3)


def test_too_few_usable_images_are_refused_before_training(tiny_checkpoint, captures, tmp_path):
    live, prints = captures
    with pytest.raises(ValueError, match=r"usable live capture\(s\) in the adaptation part, at least 20 needed"):
        adapt(tiny_checkpoint, [live], {"print": [prints]}, tmp_path / "out", min_images_per_class=20)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_unknown_family_and_missing_checkpoint_are_named(captures, tmp_path):
    live, prints = captures
    run = subprocess.run([str(IFAS), "adapt", str(tmp_path / "nope"), "--live", str(live), "--spoof",
                          f"poster={prints}", "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2 and "unknown attack family 'poster'" in run.stderr
    with pytest.raises(FileNotFoundError, match="nope: no such checkpoint folder"):
        adapt(tmp_path / "nope", [live], {"print": [prints]}, tmp_path / "o")

