"""Protocols over built corpora: OCIM leave-one-out (+CelebA-Spoof), One-to-Eleven, source-only dev, YAML specs."""

import io

import pytest
import yaml
from datasets import Dataset, DatasetDict
from PIL import Image

from datasets_scripts.contract import FEATURES, make_record
from datasets_scripts.protocols import (
    PROTOCOLS,
    MissingCorporaError,
    get_protocol,
    load_protocol,
    missing_corpora,
)

SPLITS = {
    "oulu_npu": {"train": 10, "dev": 4, "test": 6},
    "casia_mfsd": {"train": 10, "test": 10},
    "replay_attack": {"train": 10, "dev": 4, "test": 6},
    "msu_mfsd": {"train": 5, "test": 5},
    "celeba_spoof": {"train": 20, "test": 5},
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 60, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_built(data_root, corpus, splits):
    """A built corpus: per split `n` subjects with one live and one spoof video of one frame each."""
    image, parts, first = {"bytes": _png(), "path": None}, {}, 0
    for split, n in splits.items():
        rows = [
            make_record(image=image, label=label, attack_type="print" if label else "none", dataset=corpus, split=split,
                        subject=str(subject), video_id=f"{split}/{subject}/{label}")
            for subject in range(first, first + n)
            for label in (0, 1)
        ]
        parts[split], first = Dataset.from_list(rows, features=FEATURES), first + n
    DatasetDict(parts).save_to_disk(str(data_root / corpus))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    for corpus, splits in SPLITS.items():
        write_built(root, corpus, splits)
    return root


def test_named_protocols():
    assert sorted(PROTOCOLS) == sorted([
        "OCI_to_M", "OMI_to_C", "OCM_to_I", "ICM_to_O",
        "OCI_celeba_to_M", "OMI_celeba_to_C", "OCM_celeba_to_I", "ICM_celeba_to_O", "one_to_eleven",
    ])
    assert get_protocol("O&C&I->M") is PROTOCOLS["OCI_to_M"]
    assert get_protocol("I&C&M->O").targets == ("oulu_npu",)
    assert get_protocol("OMI_celeba_to_C").sources == ("oulu_npu", "msu_mfsd", "replay_attack", "celeba_spoof")
    eleven = get_protocol("one_to_eleven")
    assert eleven.sources == ("celeba_spoof",) and len(eleven.targets) == 11 and "celeba_spoof" not in eleven.targets
    with pytest.raises(KeyError, match="unknown protocol"):
        get_protocol("OCIM_to_W")


def test_ocim_leave_one_out(data_root):
    data = load_protocol("OCI_to_M", data_root)
    assert list(data.train_parts) == ["oulu_npu", "casia_mfsd", "replay_attack"]
    assert list(data.test) == ["msu_mfsd"] and data.test["msu_mfsd"].num_rows == 20
    assert set(data.train["split"]) | set(data.dev["split"]) == {"train", "test"}  # corpus dev splits left out
    assert "msu_mfsd" not in set(data.train["dataset"]) | set(data.dev["dataset"])
    for corpus, part in data.train_parts.items():
        dev_subjects = {s for d, s in zip(data.dev["dataset"], data.dev["subject"]) if d == corpus}
        assert dev_subjects and not dev_subjects & set(part["subject"])
    total = sum(2 * (n["train"] + n["test"]) for c, n in SPLITS.items() if c in data.train_parts)
    assert data.train.num_rows + data.dev.num_rows == total
    assert list(data.as_dataset_dict()) == ["train", "dev", "test_msu_mfsd"]


def test_dev_is_seeded(data_root):
    first, again = load_protocol("ICM_to_O", data_root), load_protocol("ICM_to_O", data_root)
    assert first.dev["video_id"] == again.dev["video_id"]
    other = load_protocol({"protocol": "ICM_to_O", "seed": 7, "dev_fraction": 0.5}, data_root)
    assert other.dev.num_rows > first.dev.num_rows
    by_video = load_protocol({"protocol": "ICM_to_O", "dev_group": "video_id"}, data_root)
    dev_videos = set(zip(by_video.dev["dataset"], by_video.dev["video_id"]))
    assert dev_videos and dev_videos.isdisjoint(zip(by_video.train["dataset"], by_video.train["video_id"]))


def test_celeba_as_extra_source(data_root):
    data = load_protocol("OCM_celeba_to_I", data_root)
    assert "celeba_spoof" in data.train_parts and "celeba_spoof" in set(data.dev["dataset"])
    assert list(data.test) == ["replay_attack"]


def test_missing_corpora_are_named(tmp_path, data_root):
    write_built(tmp_path, "oulu_npu", SPLITS["oulu_npu"])
    missing = missing_corpora("OCI_celeba_to_M", tmp_path)
    assert sorted(missing) == ["casia_mfsd", "celeba_spoof", "msu_mfsd", "replay_attack"]
    assert "python -m datasets_scripts.build celeba_spoof" in missing["celeba_spoof"]
    unbuilt = {"siw", "siw_m", "rose_youtu", "hkbu_mars", "casia_surf_3dmask", "hifimask", "wmca"}
    assert set(missing_corpora("one_to_eleven", data_root)) == unbuilt
    with pytest.raises(MissingCorporaError, match=r"(?s)one_to_eleven.*- siw: not built.*- wmca"):
        load_protocol("one_to_eleven", data_root)


def test_yaml_recipes(data_root):
    recipe = yaml.safe_load("protocol:\n  name: M_to_C\n  sources: [msu_mfsd]\n  targets: [casia_mfsd]\n  dev_fraction: 0.2\n")
    data = load_protocol(recipe["protocol"], data_root)
    assert list(data.train_parts) == ["msu_mfsd"] and data.test["casia_mfsd"].num_rows == 40
    assert len(set(data.dev["subject"])) == 2
    with pytest.raises(ValueError, match="both source and target"):
        get_protocol({"name": "bad", "sources": ["msu_mfsd"], "targets": ["msu_mfsd"]})
    with pytest.raises(ValueError, match="needs 'protocol'"):
        get_protocol({"sources": ["msu_mfsd"]})
