"""The ``ifas`` command line: ``ifas predict`` on a folder with a corrupt file and a video, an interrupted and resumed
run, ``--explain`` to stdout; the wrapped entry points."""

import json

import numpy as np
import pytest

import ifas.cli
import ifas.cli.predict as predict_module
from ifas.evaluation import judge_video
from test_evaluate_fas import write_video
from tiny_inputs import random_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """photos/: three images (one in a sub-folder), a corrupt .jpg, a notes file and a video."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    random_image(1).save(root / "a.png")
    random_image(2).save(root / "b.jpg")
    random_image(3).save(root / "sub" / "c.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    write_video(root / "clip.avi")
    return root


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_scores_images_and_videos_and_logs_unreadable_files(folder, tmp_path, tiny_checkpoint,
                                                                     tiny_model_and_processor, caplog):
    model, processor = tiny_model_and_processor
    out = tmp_path / "results.jsonl"
    assert ifas.cli.main(["predict", tiny_checkpoint, str(folder), "--out", str(out), "--batch_size", "2"]) == 0
    lines = read_lines(out)
    names = ["a.png", "b.jpg", "broken.jpg", "clip.avi", "sub/c.png"]
    assert [line["path"] for line in lines] == [str(folder / name) for name in names]
    by_name = dict(zip(names, lines))
    expected = model.score(processor, [str(folder / n) for n in ("a.png", "b.jpg", "sub/c.png")]).tolist()
    for name, p_live in zip(("a.png", "b.jpg", "sub/c.png"), expected):
        line = by_name[name]
        assert line["p_live"] == pytest.approx(p_live, abs=1e-6) and line["is_live"] == (p_live >= 0.5)
        assert line["error"] is None and line["face_box"] is None and line["kind"] == "image"
        assert "explanation" not in line
    broken = by_name["broken.jpg"]
    assert broken["p_live"] is None and broken["is_live"] is False and "broken.jpg" in broken["error"]
    assert "broken.jpg" in caplog.text and "notes.txt" not in out.read_text()
    video = by_name["clip.avi"]
    verdict = judge_video(model, processor, folder / "clip.avi", explain=False)
    assert video["kind"] == "video" and video["p_live"] == pytest.approx(verdict["p_live"], abs=1e-6)
    assert video["is_live"] == verdict["is_live"] and video["frame_indices"] == [6, 16]


def test_interrupted_run_resumes_without_redoing_finished_inputs(folder, tmp_path, tiny_checkpoint, monkeypatch,
                                                                  capsys):
    complete = tmp_path / "complete.jsonl"
    ifas.cli.main(["predict", tiny_checkpoint, str(folder), "--out", str(complete), "--batch_size", "1"])
    out = tmp_path / "results.jsonl"
    calls = []
    real = predict_module._image_records

    def interrupted(model, processor, paths, *args):
        calls.append(paths)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(model, processor, paths, *args)

    monkeypatch.setattr(predict_module, "_image_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ifas.cli.main(["predict", tiny_checkpoint, str(folder), "--out", str(out), "--batch_size", "1"])
    assert len(read_lines(out)) == 2  # a.png, b.jpg
    with out.open("a") as handle:
        handle.write('{"path": "torn')  # a line cut by the interruption
    calls.clear()
    capsys.readouterr()
    assert ifas.cli.main(["predict", tiny_checkpoint, str(folder), "--out", str(out), "--batch_size", "1"]) == 0
    assert [str(p) for batch in calls for p in batch] == [str(folder / "broken.jpg"), str(folder / "sub/c.png")]
    summary = capsys.readouterr().err  # a.png and b.jpg were done before the interruption; broken.jpg cannot be read
    assert "ifas predict: 5 inputs, 4 scored, " in summary and " live, 1 errors (2 of them from an earlier run)" in summary
    final, reference = read_lines(out), read_lines(complete)
    assert [line["path"] for line in final] == [line["path"] for line in reference]
    for line, expected in zip(final, reference):
        assert line.keys() == expected.keys()
        if line["p_live"] is not None:
            assert line["p_live"] == pytest.approx(expected["p_live"], abs=1e-6)


def test_explain_to_stdout_and_missing_file(tmp_path, tiny_checkpoint, tiny_model_and_processor, capsys, caplog):
    model, processor = tiny_model_and_processor
    image = tmp_path / "face.png"
    random_image(7).save(image)
    ifas.cli.main(["predict", tiny_checkpoint, str(image), str(tmp_path / "missing.png"), "--explain",
                   "--max_new_tokens", "3"])
    found, missing = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    answer = model.judge(processor, [str(image)], max_new_tokens=3)[0]
    assert found["explanation"] == answer["explanation"] and found["p_live"] == pytest.approx(answer["p_live"])
    assert missing["error"].endswith("no such file") and missing["p_live"] is None and missing["is_live"] is False
    assert missing["explanation"] is None and "missing.png" in caplog.text


def test_wrapped_entry_points_and_unknown_command(capsys, monkeypatch):
    seen = {}
    import ifas.evaluation

    monkeypatch.setattr(ifas.evaluation, "main", lambda argv: seen.setdefault("evaluate", argv))
    assert ifas.cli.main(["evaluate", "--model", "m", "--out", "r"]) == 0  # main's return value is not the status
    assert seen["evaluate"] == ["--model", "m", "--out", "r"]
    with pytest.raises(SystemExit):
        ifas.cli.main(["build", "--help"])
    assert "datasets_scripts.build" in capsys.readouterr().out
    assert ifas.cli.main(["train"]) == 2 and "unknown command 'train'" in capsys.readouterr().err
    assert np.all([name in ifas.cli.usage() for name in ("predict", "evaluate", "build", "demo")])
