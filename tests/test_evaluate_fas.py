"""ifas.evaluation: the CLI on a tiny model and tiny datasets, resume, calibration round trip, video in."""

import json
import shutil

import av
import numpy as np
import pytest
from datasets import Dataset, concatenate_datasets
from PIL import Image

import ifas.evaluation
from datasets_scripts.contract import FEATURES, make_record
from ifas.evaluation import calibrate_checkpoint, evaluate, judge_video, main, score_dataset
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from ifas.reporting import SCHEMA, load_results
from tiny_dataset import tiny_contract_dataset, tiny_image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def corrupt_row() -> dict:
    return make_record(image={"bytes": b"not an image", "path": None}, label=1, attack_type="replay",
                       dataset="tiny", split="train", subject="bad", video_id="bad_0", attack_detail="tablet")


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    first = tiny_contract_dataset()
    first["train"] = concatenate_datasets([first["train"], Dataset.from_list([corrupt_row()], features=FEATURES)])
    first.save_to_disk(str(root / "tiny"))
    tiny_contract_dataset(dataset="other").save_to_disk(str(root / "other"))
    return root


@pytest.fixture(scope="module")
def report(data_dirs, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    results = main(["--model", tiny_checkpoint, "--dataset", f"{data_dirs / 'tiny'}:train",
                    "--dataset", f"{data_dirs / 'other'}:train", "--dev_dataset", str(data_dirs / "tiny"),
                    "--out", str(out), "--batch_size", "4", "--explain", "1", "--max_new_tokens", "4"])
    return out, results


def test_cli_writes_tables_plots_and_counts_unreadable(report):
    out, results = report
    loaded = load_results(out / "results.json")
    assert loaded["schema"] == SCHEMA and loaded == json.loads(json.dumps(results))
    assert list(loaded["targets"]) == ["tiny:train", "other:train"]
    assert loaded["threshold_source"] == "dev_set" and loaded["threshold"] is not None
    tiny = loaded["targets"]["tiny:train"]
    assert tiny["num_unreadable"] == 1 and tiny["num_samples"] == 8
    assert loaded["targets"]["other:train"]["num_unreadable"] == 0
    assert "HTER (%)" in (out / "results.md").read_text()
    pngs = sorted(path.name for path in out.glob("*.png"))
    assert {"roc_all.png", "det_all.png", "hist_tiny_train.png", "roc_other_train.png"} <= set(pngs)
    for name in pngs:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        Image.open(out / name).verify()
    bad = [json.loads(line) for line in (out / "scores" / "tiny_train.jsonl").read_text().splitlines()[1:]]
    assert [r for r in bad if "error" in r][0]["row"] == 8 and "score" not in bad[8]


def test_explanations_with_consistency_per_attack_type(report):
    out, results = report
    document = json.loads((out / "explanations.json").read_text())
    assert document["threshold"] == results["threshold"]
    tiny = document["targets"]["tiny:train"]
    assert set(tiny["consistency"]) == {"all", "none", "print"}
    assert {"n", "judgment_correct", "explanation_consistent", "names_family", "fully_consistent"} <= set(
        tiny["consistency"]["print"])
    for sample in tiny["samples"]:
        assert sample["judgment"] in ("Yes", "No") and sample["is_live"] == (sample["p_live"] >= results["threshold"])
    assert document["all_targets"]["all"]["n"] == 4
    markdown = (out / "explanations.md").read_text()
    assert "## Consistency per attack type (%)" in markdown and "## other:train" in markdown


def test_rerun_resumes_from_cached_scores(report, data_dirs, tiny_model_and_processor, monkeypatch, tmp_path):
    out, results = report
    shutil.copytree(out / "scores", tmp_path / "scores")
    model, processor = tiny_model_and_processor
    dataset = Dataset.load_from_disk(str(data_dirs / "tiny" / "train"))
    cache = tmp_path / "scores" / "tiny_train.jsonl"
    lines = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(lines[:-2]) + '{"row": 7, "la')  # interrupted while writing row 7
    resumed = score_dataset(model, processor, dataset, 4, cache_path=cache)
    expected = [json.loads(line) for line in lines[1:]]
    assert [r["row"] for r in resumed] == list(range(9)) and "not an image file" in resumed[8]["error"]
    assert resumed[7]["score"] == pytest.approx(expected[7]["score"], abs=1e-5)
    assert cache.read_text().count("\n") == 10

    monkeypatch.setattr(IFASForConditionalGeneration, "score_inputs", lambda *a, **k: pytest.fail("re-scored"))
    again = evaluate(model, processor, {"tiny:train": dataset}, out_dir=tmp_path, batch_size=4)
    assert again["threshold"] is None
    assert again["targets"]["tiny:train"]["auc"] == pytest.approx(results["targets"]["tiny:train"]["auc"])


def test_calibration_round_trip(data_dirs, tiny_checkpoint, tmp_path):
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, checkpoint)
    results = main(["--model", str(checkpoint), "--dataset", f"{data_dirs / 'other'}:dev", "--dev_dataset",
                    str(data_dirs / "tiny"), "--out", str(tmp_path / "report"), "--calibrate"])
    model = IFASForConditionalGeneration.from_pretrained(checkpoint)
    assert model.config.threshold == results["threshold"] and model.decision_threshold() == results["threshold"]

    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    images = [tiny_image(i % 2, 50 + i) for i in range(6)]
    scores = model.score(processor, images).tolist()
    middle = float(np.median(scores))
    calibrate_checkpoint(checkpoint, middle)
    reloaded = IFASForConditionalGeneration.from_pretrained(checkpoint)
    answers = reloaded.judge(processor, images, max_new_tokens=2)
    assert [a["is_live"] for a in answers] == [s >= middle for s in scores]
    assert 0 < sum(a["is_live"] for a in answers) < len(images)
    with pytest.raises(ValueError, match="no config.json"):
        calibrate_checkpoint(tmp_path / "nowhere", 0.5)


def write_video(path, n_frames: int = 20) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            array = np.full((32, 32, 3), 10 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def test_video_is_judged_on_sampled_frames(tiny_model_and_processor, tmp_path, capsys, tiny_checkpoint):
    model, processor = tiny_model_and_processor
    video = tmp_path / "clip.avi"
    write_video(video)
    verdict = judge_video(model, processor, video, max_new_tokens=2)
    assert verdict["frame_indices"] == [6, 16]
    assert verdict["p_live"] == pytest.approx(np.mean(verdict["frame_p_live"]))
    assert verdict["is_live"] == (verdict["p_live"] >= 0.5) and verdict["judgment"] in ("Yes", "No")
    pick = max if verdict["is_live"] else min
    assert verdict["decisive_frame"] == verdict["frame_indices"][
        verdict["frame_p_live"].index(pick(verdict["frame_p_live"]))]
    main(["--model", tiny_checkpoint, "--video", str(video), "--frames", "first_last", "--max_new_tokens", "2"])
    assert json.loads(capsys.readouterr().out)["frame_indices"] == [0, 19]


def test_unreadable_video_fails_closed_naming_the_file(tiny_model_and_processor, tmp_path):
    model, processor = tiny_model_and_processor
    bad = tmp_path / "broken_clip.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="broken_clip.mp4"):
        judge_video(model, processor, bad)
    with pytest.raises(ValueError, match="missing.mp4"):
        judge_video(model, processor, tmp_path / "missing.mp4")


def test_bad_dataset_spec_is_named(tmp_path):
    with pytest.raises(ValueError, match="no dataset folder"):
        ifas.evaluation.load_dataset_spec(str(tmp_path / "absent:test"))


def test_named_protocol_over_built_corpora(tiny_checkpoint, tmp_path):
    for corpus in ("oulu_npu", "casia_mfsd", "replay_attack", "msu_mfsd"):
        tiny_contract_dataset(n_per_split=4, with_captions=False, dataset=corpus).save_to_disk(str(tmp_path / corpus))
    results = main(["--model", tiny_checkpoint, "--protocol", "O&C&I->M", "--data_root", str(tmp_path),
                    "--out", str(tmp_path / "report")])
    assert results["protocol"] == "OCI_to_M" and list(results["targets"]) == ["msu_mfsd"]
    assert results["threshold_source"] == "dev_set" and results["targets"]["msu_mfsd"]["num_samples"] == 4


def test_image_independent_scores_are_flagged(caplog):
    assert ifas.evaluation.warn_if_image_independent("dev", [{"score": 0.2785}, {"score": 0.2784}, {"score": 0.2785}])
    assert "scores every image alike" in caplog.text
    assert not ifas.evaluation.warn_if_image_independent("dev", [{"score": 0.2}, {"score": 0.6}])
    assert not ifas.evaluation.warn_if_image_independent("dev", [{"score": 0.2}])
