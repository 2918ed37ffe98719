"""Each corpus builder on a miniature raw tree: labels, attack types, splits, subjects, counts, traps, bad files."""

import itertools
import json
import logging
from collections import Counter

import pytest
from builders_fixtures import (
    astronaut_face,
    make_casia,
    make_celeba,
    make_msu,
    make_oulu,
    make_replay,
    write_face_file,
    write_video,
)
from datasets import load_from_disk

from datasets_scripts.build import build_corpus
from datasets_scripts.contract import check_dataset
from datasets_scripts.corpora import BUILDERS, get_corpus


def build(corpus, root, tmp_path, **options):
    out = tmp_path / "out" / corpus
    report = build_corpus(corpus, root, out, **options)
    dataset = load_from_disk(str(out))
    check_dataset(dataset, where=corpus)
    assert json.loads((out / "build_report.json").read_text()) == report
    assert (out / "build_report.md").read_text().startswith("# Build report")
    assert not out.with_name(f"{corpus}.partial").exists()
    return dataset, report


def light(dataset):
    """Rows without the image column, per split."""
    return {split: ds.remove_columns("image").to_list() for split, ds in dataset.items()}


def by_video(rows):
    return {row["video_id"]: row for row in rows}


def assert_subjects_disjoint(rows):
    subjects = {split: {row["subject"] for row in split_rows} for split, split_rows in rows.items()}
    for (a, a_subjects), (b, b_subjects) in itertools.combinations(subjects.items(), 2):
        assert not a_subjects & b_subjects, (a, b)


def test_registry_discovers_builders():
    assert {"casia_mfsd", "celeba_spoof", "msu_mfsd", "oulu_npu", "replay_attack"} <= set(BUILDERS)
    assert get_corpus("oulu_npu").NAME == "oulu_npu"
    with pytest.raises(KeyError, match="unknown corpus"):
        get_corpus("nuaa")


def test_casia_mfsd_with_bad_files(tmp_path, caplog):
    base = make_casia(tmp_path / "raw")
    write_video(base / "test_release" / "1" / "HR_1.avi", blank_from=10)  # frame 16 has no face and no box
    write_face_file(base / "face-locations" / "test_release" / "1" / "HR_1.face", n_frames=10)
    write_video(base / "test_release" / "2" / "1.avi", size=128, face=astronaut_face(64))  # no box file: detector
    (base / "test_release" / "1" / "7.avi").write_bytes(b"not a video at all" * 50)  # corrupt
    (base / "train_release" / "2" / "8.avi").unlink()
    (base / "train_release" / "2" / "8.avi").symlink_to(tmp_path / "gone.avi")  # missing file
    write_video(base / "train_release" / "1" / "9.avi")  # not a CASIA name
    (base / "video_train.txt").write_text("CASIA_FASD/train_release/1/1 1\n")  # polarity trap: never read

    with caplog.at_level(logging.WARNING):
        dataset, report = build("casia_mfsd", tmp_path / "raw", tmp_path)
    assert list(dataset) == ["train", "test"]
    rows = light(dataset)
    videos = {split: by_video(split_rows) for split, split_rows in rows.items()}
    assert videos["train"]["train_release/1/1"]["label"] == 0
    assert videos["train"]["train_release/1/HR_2"] | {"frame_index": 0} == videos["train"]["train_release/1/HR_2"] | {
        "frame_index": 0, "label": 1, "attack_type": "print", "attack_detail": "warped_photo_high"}
    assert videos["train"]["train_release/2/6"]["attack_detail"] == "cut_photo_low"
    assert videos["test"]["test_release/1/8"]["attack_type"] == "replay"
    assert {row["subject"] for row in rows["train"]} == {"1", "2"}
    assert {row["subject"] for row in rows["test"]} == {"21", "22"}
    assert_subjects_disjoint(rows)
    assert {row["frame_index"] for row in rows["train"]} == {6, 16}
    assert all(row["dataset"] == "casia_mfsd" and row["caption"] == "" for r in rows.values() for row in r)

    assert report["splits"]["train"] == {
        "videos": 23, "frames": 46, "subjects": 2,
        "frames_by_label": {"live": 12, "spoof": 34},
        "frames_by_attack_type": {"none": 12, "print": 24, "replay": 10},
    }
    assert report["splits"]["test"]["videos"] == 12 and report["splits"]["test"]["frames"] == 23
    assert report["frames_by_box_source"] == {"corpus": 67, "detector": 2}
    assert report["no_face_frames"] == {"count": 1, "frames": [{"video_id": "test_release/1/HR_1", "frame_index": 16}]}
    reasons = {entry["item"]: entry["reason"] for entry in report["skipped"]["files"]}
    assert reasons["train_release/2/8"] == "missing file"
    assert reasons["test_release/1/7"].startswith("cannot decode")
    assert "unknown CASIA-MFSD video name" in reasons["train_release/1/9.avi"]
    assert "no face in frame 16" in caplog.text and "test_release/1/7" in caplog.text
    assert dataset["test"].filter(lambda s: s == "22", input_columns="subject")[0]["image"].size == (224, 224)


def test_replay_attack(tmp_path):
    make_replay(tmp_path / "raw")
    dataset, report = build("replay_attack", tmp_path / "raw", tmp_path, detector="none")
    assert list(dataset) == ["train", "dev", "test"]
    rows = light(dataset)
    train = by_video(rows["train"])
    assert train["train/real/client001_session01_webcam_authenticate_controlled_1"]["label"] == 0
    printed = train["train/attack/fixed/attack_print_client001_session01_highdef_photo_controlled"]
    assert (printed["label"], printed["attack_type"], printed["attack_detail"]) == (1, "print", "print_photo_fixed")
    highdef = train["train/attack/hand/attack_highdef_client001_session01_highdef_video_adverse"]
    assert (highdef["attack_type"], highdef["attack_detail"]) == ("replay", "highdef_video_hand")
    assert {row["subject"] for row in rows["dev"]} == {"3"}
    assert_subjects_disjoint(rows)
    assert report["frames_by_box_source"] == {"corpus": 30}
    assert [s["reason"] for s in report["skipped"]["files"]] == ["enroll videos are not part of train/devel/test"]
    assert {split: c["frames_by_label"] for split, c in report["splits"].items()} == {
        split: {"live": 4, "spoof": 6} for split in ("train", "dev", "test")
    }


def test_msu_mfsd_subject_lists_and_folder_rule(tmp_path):
    base = make_msu(tmp_path / "raw")
    write_video(base / "scene01" / "attack" / "real_client002_laptop_SD_scene01.mov")  # folder/name disagree
    write_video(base / "scene01" / "real" / "real_client009_laptop_SD_scene01.mov")  # in no sub list
    dataset, report = build("msu_mfsd", tmp_path / "raw", tmp_path, detector="none")
    rows = light(dataset)
    assert {row["subject"] for row in rows["train"]} == {"2"}
    assert {row["subject"] for row in rows["test"]} == {"1", "3"}
    test = by_video(rows["test"])
    ipad = test["scene01/attack/attack_client003_android_HD_ipad_video_scene01"]
    assert (ipad["label"], ipad["attack_type"], ipad["attack_detail"]) == (1, "replay", "ipad_video_android_HD")
    assert test["scene01/attack/attack_client001_laptop_SD_printed_photo_scene01"]["attack_type"] == "print"
    assert test["scene01/real/real_client001_android_SD_scene01"]["label"] == 0
    assert report["splits"]["train"]["frames_by_attack_type"] == {"none": 4, "print": 2, "replay": 4}
    reasons = sorted(s["reason"] for s in report["skipped"]["files"])
    assert reasons == ["folder 'attack' disagrees with the name prefix 'real'", "subject 9 is in neither train_sub_list.txt nor test_sub_list.txt"]


def test_msu_subject_in_both_lists_is_an_error(tmp_path):
    base = make_msu(tmp_path / "raw", train=(1,), test=(2,))
    (base / "test_sub_list.txt").write_text("01\n02\n")
    with pytest.raises(ValueError, match="in both"):
        build_corpus("msu_mfsd", tmp_path / "raw", tmp_path / "out")


def test_oulu_npu_ignores_protocol_polarity(tmp_path):
    make_oulu(tmp_path / "raw")
    dataset, report = build("oulu_npu", tmp_path / "raw", tmp_path)
    rows = light(dataset)
    train = by_video(rows["train"])
    assert train["Train_files/1_1_01_1"]["label"] == 0  # the trap list says -1 (attack)
    assert (train["Train_files/1_1_01_2"]["label"], train["Train_files/1_1_01_2"]["attack_detail"]) == (1, "printer_1")
    assert (train["Train_files/1_1_01_5"]["attack_type"], train["Train_files/1_1_01_5"]["attack_detail"]) == ("replay", "display_2")
    assert {split: {row["subject"] for row in r} for split, r in rows.items()} == {"train": {"1"}, "dev": {"21"}, "test": {"36"}}
    assert report["frames_by_box_source"] == {"corpus": 30}
    assert Counter(row["attack_type"] for row in rows["test"]) == {"none": 2, "print": 4, "replay": 4}


def test_celeba_spoof_folder_wins_and_json_gives_types(tmp_path, caplog):
    base = make_celeba(tmp_path / "raw")
    labels = json.loads((base / "metas/intra_test/train_label.json").read_text())
    labels["Data/train/10/live/000001.jpg"][43] = 1  # trap: the json flag says spoof, the folder says live
    labels["Data/train/12/spoof/000099.jpg"] = [0] * 40 + [1, 1, 1, 1]  # listed, not on disk
    (base / "metas/intra_test/train_label.json").write_text(json.dumps(labels))
    with caplog.at_level(logging.WARNING):
        dataset, report = build("celeba_spoof", tmp_path / "raw", tmp_path)
    rows = light(dataset)
    train, test = by_video(rows["train"]), by_video(rows["test"])
    assert train["Data/train/10/live/000001"]["label"] == 0 and "folder wins" in caplog.text
    assert (train["Data/train/10/spoof/000002"]["attack_type"], train["Data/train/10/spoof/000002"]["attack_detail"]) == ("print", "poster")
    assert train["Data/train/11/spoof/000003"]["attack_type"] == "replay"
    assert (test["Data/test/20/spoof/000006"]["attack_type"], test["Data/test/20/spoof/000007"]["attack_type"]) == ("mask", "partial")
    assert {row["frame_index"] for row in rows["train"]} == {0}
    assert_subjects_disjoint(rows)
    assert report["skipped"]["files"] == [
        {"item": "Data/train/12/spoof/000099.jpg", "reason": "listed in metas/intra_test/train_label.json but missing on disk"}
    ]
    assert report["frames_by_box_source"] == {"corpus": 7}


def test_celeba_spoof_without_json(tmp_path):
    make_celeba(tmp_path / "raw", with_json=False)
    dataset, _ = build("celeba_spoof", tmp_path / "raw", tmp_path)
    assert Counter(dataset["test"]["attack_type"]) == {"none": 1, "other": 2}


def test_wrong_root_is_a_clear_error(tmp_path):
    make_oulu(tmp_path / "raw")
    with pytest.raises(FileNotFoundError, match="CASIA-MFSD"):
        build_corpus("casia_mfsd", tmp_path / "raw", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no Idiap Replay-Attack media"):
        build_corpus("replay_attack", tmp_path / "raw", tmp_path / "out")
