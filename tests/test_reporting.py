"""Results document, Markdown tables and PNG plots written by `reporting`."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from ifas.fas_metrics import compute_fas_metrics  # noqa: E402
from ifas.reporting import SCHEMA, build_results, load_results, write_plots, write_tables  # noqa: E402


def make_records(seed: int, n_videos: int = 30, frames: int = 2, dataset: str = "demo") -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for v in range(n_videos):
        label = v % 3 != 0
        attack = ("print", "replay")[v % 2] if label else "none"
        center = 0.3 if label else 0.7
        for f in range(frames):
            records.append({"score": float(np.clip(rng.normal(center, 0.2), 0, 1)), "label": int(label),
                            "attack_type": attack, "video_id": f"{dataset}_{v}", "dataset": dataset})
    return records


@pytest.fixture(scope="module")
def targets():
    return {"MSU-MFSD": make_records(1, dataset="msu"), "Replay Attack": make_records(2, dataset="replay")}


def test_results_document_per_target_and_average(targets):
    dev = make_records(3)
    results = build_results(targets, dev_records=dev, model="tiny", protocol="demo")
    assert results["schema"] == SCHEMA and results["threshold_source"] == "dev_set"
    msu = targets["MSU-MFSD"]
    expected = compute_fas_metrics([r["score"] for r in msu], [r["label"] for r in msu],
                                   attack_types=[r["attack_type"] for r in msu], dev_threshold=results["threshold"])
    assert {k: v for k, v in results["targets"]["MSU-MFSD"].items() if k != "datasets"} == expected
    assert results["targets"]["MSU-MFSD"]["datasets"] == ["msu"]
    hters = [m["hter"] for m in results["targets"].values()]
    assert results["average"]["hter"] == pytest.approx(np.mean(hters)) and results["average"]["num_targets"] == 2
    video = build_results(targets, threshold=0.5, video_level=True)
    assert video["level"] == "video" and video["targets"]["MSU-MFSD"]["num_samples"] == 30


def test_no_dev_threshold_leaves_hter_empty_but_keeps_oracle(targets):
    results = build_results(targets)
    assert results["threshold"] is None and results["average"]["hter"] is None
    assert results["average"]["hter_oracle"] is not None


def test_bad_targets_are_named(targets):
    with pytest.raises(ValueError, match="target 'live only'.*both live and spoof"):
        build_results({"live only": [{"score": 0.9, "label": 0}, {"score": 0.8, "label": 0}]})
    with pytest.raises(ValueError, match="target 'x' record 1: missing \\['label'\\]"):
        build_results({"x": [{"score": 0.9, "label": 0}, {"score": 0.1}]})
    with pytest.raises(ValueError, match="not both"):
        build_results(targets, threshold=0.5, dev_records=make_records(3))


def test_tables_are_written_as_json_and_markdown(tmp_path, targets):
    results = build_results(targets, threshold=0.5, model="tiny", protocol="demo")
    paths = write_tables(results, tmp_path)
    assert load_results(paths["json"]) == json.loads(json.dumps(results))
    markdown = paths["markdown"].read_text()
    assert "| Target | HTER (%) | AUC (%) | Oracle HTER (%) |" in markdown
    msu = results["targets"]["MSU-MFSD"]
    assert f"| MSU-MFSD | {100 * msu['hter']:.2f} | {100 * msu['auc']:.2f} | {100 * msu['hter_oracle']:.2f} |" in markdown
    assert "| **Average** |" in markdown and "TPR@FPR=0.1%" in markdown and "| Target | print | replay |" in markdown


def test_load_results_names_the_bad_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match="results.json: not a ifas.fas_results/2"):
        load_results(bad)


def test_plots_are_valid_pngs(tmp_path, targets):
    results = build_results(targets, threshold=0.5, video_level=True)
    paths = write_plots(targets, tmp_path, results)
    names = sorted(p.name for p in paths)
    assert names == sorted(["roc_MSU-MFSD.png", "det_MSU-MFSD.png", "hist_MSU-MFSD.png", "roc_Replay_Attack.png",
                            "det_Replay_Attack.png", "hist_Replay_Attack.png", "roc_all.png", "det_all.png"])
    for path in paths:
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
        with Image.open(path) as image:
            assert image.size[0] >= 300 and image.size[1] >= 200


def test_results_report_species_and_family_and_keep_corpora_apart(tmp_path):
    # Two corpora share video ids 0..29; details name two species per family ("A4"/"glossy", "phone"/"tablet").
    records = make_records(4, dataset="a") + make_records(5, dataset="b")
    for r in records:
        r["video_id"] = r["video_id"].split("_")[1]
        r["attack_detail"] = "" if r["label"] == 0 else {"print": "A4", "replay": "phone"}[r["attack_type"]]
        if r["dataset"] == "b" and r["label"] == 1:
            r["attack_detail"] = {"print": "glossy", "replay": "tablet"}[r["attack_type"]]
    results = build_results({"ab": records}, threshold=0.5, video_level=True)
    target = results["targets"]["ab"]
    assert target["num_samples"] == 60  # 30 videos per corpus, not merged
    video = {}
    for r in records:
        video.setdefault((r["dataset"], r["video_id"]), []).append(r)
    species = {}
    for frames in video.values():
        if frames[0]["label"] == 1:
            name = f"{frames[0]['attack_type']}/{frames[0]['attack_detail']}"
            species.setdefault(name, []).append(np.mean([f["score"] for f in frames]) >= 0.5)
    assert target["apcer_per_species"] == {name: pytest.approx(np.mean(hits)) for name, hits in species.items()}
    assert target["apcer_max"] == pytest.approx(max(np.mean(hits) for hits in species.values()))
    markdown = (write_tables(results, tmp_path)["markdown"]).read_text()
    assert "APCER per PAI species" in markdown and "print/glossy" in markdown and "APCER per attack family" in markdown
