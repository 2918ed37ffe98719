"""A corpus build skips and reports every bad file (bomb, corrupt JPEG, truncated label JSON) and survives a kill
between the two renames of its final publish."""

import io
import json
import os
import struct
import types
import zlib

import pytest
from builders_fixtures import astronaut_face, make_celeba
from datasets import load_from_disk

import datasets_scripts.build as build_module
from datasets_scripts.build import REPORT_JSON, build_corpus
from datasets_scripts.corpora.celeba_spoof import read_label_json


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 100-byte PNG whose header claims width x height pixels (Pillow refuses it as a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))


def corrupt_jpeg() -> bytes:
    """A natural-looking JPEG with 8 bytes of its scan data flipped (Pillow decodes it without a word)."""
    buffer = io.BytesIO()
    astronaut_face(112).save(buffer, format="JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    middle = (start + len(data) - 2) // 2
    for k in range(8):
        data[middle + 97 * k] ^= 0x55
    return bytes(data)


@pytest.fixture()
def bad_celeba(tmp_path):
    """The CelebA-Spoof fixture with a bomb PNG and a corrupt JPEG in train, and a truncated test label json."""
    base = make_celeba(tmp_path / "raw")
    (base / "Data/train/11/spoof/000003.png").write_bytes(bomb_png())
    (base / "Data/train/10/live/000001.jpg").write_bytes(corrupt_jpeg())
    test_json = base / "metas/intra_test/test_label.json"
    test_json.write_text(test_json.read_text()[:50])
    return base


def test_bad_files_are_skipped_and_listed_in_the_report(tmp_path, bad_celeba):
    out = tmp_path / "out" / "celeba_spoof"
    report = build_corpus("celeba_spoof", tmp_path / "raw", out, detector="none")
    skipped = {entry["item"]: entry["reason"] for entry in report["skipped"]["files"]}
    assert sorted(skipped) == ["Data/train/10/live/000001", "Data/train/11/spoof/000003",
                               "metas/intra_test/test_label.json"]
    assert skipped["Data/train/11/spoof/000003"].startswith("cannot decode: ValueError: image file ")
    assert "000003.png': refused, absurd pixel count" in skipped["Data/train/11/spoof/000003"]
    assert "000001.jpg': corrupt or truncated JPEG data (Corrupt JPEG data" in skipped["Data/train/10/live/000001"]
    assert skipped["metas/intra_test/test_label.json"].startswith("unreadable label file: ")
    assert "test_label.json: not a readable JSON label file" in skipped["metas/intra_test/test_label.json"]
    dataset = load_from_disk(str(out))
    assert sorted(dataset["train"]["video_id"]) == ["Data/train/10/spoof/000002", "Data/train/11/live/000004"]
    test_rows = {row["video_id"]: row["attack_type"] for row in dataset["test"].remove_columns("image")}
    assert test_rows == {"Data/test/20/live/000005": "none", "Data/test/20/spoof/000006": "other",
                         "Data/test/20/spoof/000007": "other"}  # types unknown without a readable json
    assert report["skipped"]["count"] == 3


def test_truncated_label_json_error_names_the_file(tmp_path):
    path = tmp_path / "train_label.json"
    path.write_text('{"Data/train/1/live/1.jpg": [0, 0')
    with pytest.raises(ValueError, match=r"train_label\.json: not a readable JSON label file"):
        read_label_json(path)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no `except Exception` catches it."""


def test_a_kill_between_the_publish_renames_is_completed_by_a_rerun(tmp_path, monkeypatch):
    make_celeba(tmp_path / "raw")
    out = tmp_path / "out" / "celeba_spoof"
    old, work = out.with_name("celeba_spoof.old"), out.with_name("celeba_spoof.partial")
    first = build_corpus("celeba_spoof", tmp_path / "raw", out, detector="none")
    renames = []

    def replace_then_die(source, target):
        renames.append((source, target))
        if len(renames) == 2:
            raise Killed
        os.replace(source, target)

    monkeypatch.setattr(build_module, "os", types.SimpleNamespace(replace=replace_then_die))
    with pytest.raises(Killed):
        build_corpus("celeba_spoof", tmp_path / "raw", out, detector="none", overwrite=True)
    monkeypatch.undo()
    assert renames == [(out, old), (work / "dataset", out)]
    assert old.is_dir() and not out.exists() and (work / "dataset" / REPORT_JSON).is_file()  # the state left
    assert build_corpus("celeba_spoof", tmp_path / "raw", out, detector="none") == first
    assert not old.exists() and not work.exists() and json.loads((out / REPORT_JSON).read_text()) == first
    old.mkdir()  # killed while deleting OUT.old after both renames
    (old / "dataset_dict.json").write_text("{}")
    assert build_corpus("celeba_spoof", tmp_path / "raw", out, detector="none", overwrite=True) == first
    assert not old.exists() and json.loads((out / REPORT_JSON).read_text()) == first
    assert sorted(load_from_disk(str(out))["test"]["video_id"]) == [
        "Data/test/20/live/000005", "Data/test/20/spoof/000006", "Data/test/20/spoof/000007"]
