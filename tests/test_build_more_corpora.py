"""The seven later corpus builders on miniature raw trees, media sources, and the now complete One-to-Eleven protocol.

Every corpus is built once (module fixture) from a tree that holds its polarity trap, a file its name rule must
refuse, a corrupt file and a missing one; the tests then read labels, attack types, splits, subjects, counts and
the build report. The five earlier corpora are built too, so One-to-Eleven loads from twelve real builds.
"""

import itertools
import logging

import h5py
import numpy as np
import pytest
from builders_fixtures import make_casia, make_celeba, make_msu, make_oulu, make_replay
from datasets import load_from_disk
from more_corpora_fixtures import (
    make_3dmask,
    make_hifimask,
    make_hkbu,
    make_rose,
    make_siw,
    make_siw_m,
    make_wmca,
    write_frame_container,
    write_frame_folder,
)

from datasets_scripts.build import build_all, build_corpus
from datasets_scripts.contract import check_dataset
from datasets_scripts.corpora import BUILDERS, get_corpus
from datasets_scripts.corpora import hifimask, wmca
from datasets_scripts.media_sources import iter_media_frames
from datasets_scripts.protocols import ONE_TO_ELEVEN_TARGETS, PROTOCOLS, load_protocol, missing_corpora

NEW_CORPORA = {
    "siw": (make_siw, "SiW", "none"),
    "siw_m": (make_siw_m, "SiW-M", "mtcnn"),
    "rose_youtu": (make_rose, "ROSE-Youtu", "none"),
    "hkbu_mars": (make_hkbu, "HKBU-MARs-V2", "mtcnn"),
    "casia_surf_3dmask": (make_3dmask, "3DMask", "none"),
    "hifimask": (make_hifimask, "CASIA_HiFiMask", "none"),
    "wmca": (make_wmca, "WMCA", "none"),
}
EARLIER_CORPORA = {
    "casia_mfsd": lambda raw: make_casia(raw, train_subjects=(1,), test_subjects=(1,), names=["1", "3"]),
    "replay_attack": make_replay,
    "msu_mfsd": lambda raw: make_msu(raw, train=(2,), test=(1,)),
    "oulu_npu": make_oulu,
    "celeba_spoof": make_celeba,
}


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """OUT_PARENT with all twelve corpora built from miniature trees; (out, {name: report}, warning lines)."""
    raw, out = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("built")
    records, logger = Records(), logging.getLogger("datasets_scripts")
    logger.addHandler(records)
    try:
        reports = {}
        for name, (maker, folder, detector) in NEW_CORPORA.items():
            maker(raw / name)
            root = raw / name / folder if name == "rose_youtu" else raw / name
            reports[name] = build_corpus(name, root, out / name, detector=detector)
        for name, maker in EARLIER_CORPORA.items():
            maker(raw / name)
            reports[name] = build_corpus(name, raw / name, out / name, detector="none")
    finally:
        logger.removeHandler(records)
    return out, reports, "\n".join(records.lines)


def rows_of(out, name):
    """{split: {video_id: a row of that video, without image}} of a built corpus, after the contract check."""
    dataset = load_from_disk(str(out / name))
    check_dataset(dataset, where=name)
    assert set(dataset["train"]["dataset"]) == {name}
    return {split: {row["video_id"]: row for row in ds.remove_columns("image").to_list()} for split, ds in dataset.items()}


def subjects_disjoint(rows):
    subjects = {split: {row["subject"] for row in videos.values()} for split, videos in rows.items()}
    return all(not a & b for a, b in itertools.combinations(subjects.values(), 2))


def kinds(row):
    return row["label"], row["attack_type"], row["attack_detail"]


def skipped(report):
    return {entry["item"]: entry["reason"] for entry in report["skipped"]["files"]}


def test_registry_holds_all_twelve_corpora():
    new = ("siw", "siw_m", "rose_youtu", "hkbu_mars", "casia_surf_3dmask", "hifimask", "wmca")
    assert set(new) <= set(BUILDERS) and len(BUILDERS) == 12
    for name in new:
        module = get_corpus(name)
        assert module.NAME == name and module.TITLE and set(module.SPLITS) <= {"train", "dev", "test"}


def test_siw(built):
    out, reports, log = built
    rows = rows_of(out, "siw")
    train, test = rows["train"], rows["test"]
    assert kinds(train["Train/live/001/001-1-1-1-1"]) == (0, "none", "")
    assert kinds(train["Train/spoof/001/001-1-2-1-1"]) == (1, "print", "print_medium1")
    assert kinds(train["Train/spoof/001/001-2-3-2-2"]) == (1, "replay", "replay_medium2_iphone7")
    assert kinds(test["Test/spoof/091/091-1-3-4-3"]) == (1, "replay", "replay_medium4_asus_monitor")
    assert {r["subject"] for r in train.values()} == {"1"} and {r["subject"] for r in test.values()} == {"91"}
    report = reports["siw"]
    assert report["splits"]["train"] == {"videos": 3, "frames": 6, "subjects": 1, "frames_by_label": {"live": 2, "spoof": 4},
                                         "frames_by_attack_type": {"none": 2, "print": 2, "replay": 2}}
    assert report["frames_by_box_source"] == {"corpus": 12}
    reasons = skipped(report)
    assert "disagrees with type 1" in reasons["Train/spoof/001/001-1-1-3-1.mov"]  # a live type filed as spoof
    assert reasons["Train/live/001/001-2-1-1-2"] == "missing file"
    assert reasons["Test/spoof/091/091-2-3-1-1"].startswith("cannot decode")
    assert "Test/spoof/091/091-2-3-1-1: skipped" in log


def test_siw_m(built):
    out, reports, _ = built
    rows = rows_of(out, "siw_m")
    train, test = rows["train"], rows["test"]
    assert set(train) == {"Live/Train/Live_1", "Paper/Paper_1", "Partial/PaperCut/Partial_Eye_1"}
    assert set(test) == {"Live/Test/Live_2", "Replay/Replay_1", "Mask/HalfMask/Mask_Half_1", "Makeup/Cosmetic/Makeup_Co_1"}
    assert kinds(train["Paper/Paper_1"]) == (1, "print", "paper")
    assert kinds(train["Partial/PaperCut/Partial_Eye_1"]) == (1, "partial", "PaperCut")
    assert kinds(test["Mask/HalfMask/Mask_Half_1"]) == (1, "mask", "HalfMask")
    assert kinds(test["Makeup/Cosmetic/Makeup_Co_1"]) == (1, "makeup", "Cosmetic")
    assert kinds(test["Live/Test/Live_2"]) == (0, "none", "")
    assert subjects_disjoint(rows)
    report = reports["siw_m"]
    assert report["frames_by_box_source"] == {"detector": 14} and report["no_face_frames"]["count"] == 0
    reasons = skipped(report)
    assert "Mask/<" in reasons["Mask/SiliconeMask/Live_3.mov"]  # trap: a Live name in a spoof folder
    assert reasons["Live/Test/Live_4"] == "missing file"
    assert reasons["Partial/FunnyeyeGlasses/Partial_Funnyeye_1"].startswith("cannot decode")


def test_rose_youtu(built):
    out, reports, _ = built
    rows = rows_of(out, "rose_youtu")
    assert {r["subject"] for r in rows["train"].values()} == {"5"} and {r["subject"] for r in rows["test"].values()} == {"2"}
    train = rows["train"]
    assert kinds(train["5/G_NT_HS_g_E_5_1"]) == (0, "none", "")
    assert kinds(train["5/Ps_T_5s_g_E_5_2"]) == (1, "print", "Ps")  # a 'g' (glasses) field does not mean genuine
    assert kinds(train["5/Vl_NT_HW_wg_E_5_3"]) == (1, "replay", "Vl")
    assert kinds(train["5/Mc_T_ZTE_g_E_5_4"]) == (1, "mask", "Mc")
    report = reports["rose_youtu"]
    assert {s: c["videos"] for s, c in report["splits"].items()} == {"train": 4, "test": 4}
    assert report["frames_by_box_source"] == {"corpus": 16}
    reasons = skipped(report)
    assert "is not the name's subject 2" in reasons["5/G_NT_IP_g_E_2_9.mp4"]
    assert reasons["2/Pq_NT_HS_g_E_2_8"] == "missing file"
    assert reasons["2/Mu_T_IP_wg_E_2_7"].startswith("cannot decode")


def test_hkbu_mars_v2(built):
    out, reports, _ = built
    rows = rows_of(out, "hkbu_mars")
    assert set(rows["test"]) == {"real/01/01_01_01", "attack/01/01_01_01"}  # real.txt's 1 = live is not read
    assert set(rows["train"]) == {"real/02/01_01_02", "attack/02/01_01_02"}
    assert kinds(rows["test"]["real/01/01_01_01"]) == (0, "none", "")
    assert kinds(rows["test"]["attack/01/01_01_01"]) == (1, "mask", "3d_mask")
    assert subjects_disjoint(rows)
    reasons = skipped(reports["hkbu_mars"])
    assert "SS = its subject folder" in reasons["attack/01/02_01_02.avi"]
    assert reasons["attack/02/04_02_02"] == "missing file"
    assert reasons["real/02/03_02_02"].startswith("cannot decode")


def test_hkbu_mars_v1_layout_is_refused(tmp_path):
    for session in ("s1", "s2", "s3"):
        (tmp_path / "HKBU-MARs-V1" / session).mkdir(parents=True)
        (tmp_path / "HKBU-MARs-V1" / session / f"01_{session[1]}_1.mp4").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="V1 .* not supported"):
        build_corpus("hkbu_mars", tmp_path, tmp_path / "out")


def test_casia_surf_3dmask(built):
    out, reports, _ = built
    rows = rows_of(out, "casia_surf_3dmask")
    assert set(rows["test"]) == {"Real/0927_013/1", "Fake/0927_013/2/3"}  # the list's flipped polarity is not read
    assert set(rows["train"]) == {"Real/0929_031/1", "Fake/0929_031/2/3"}
    assert kinds(rows["test"]["Fake/0927_013/2/3"]) == (1, "mask", "3d_mask_k2")
    assert kinds(rows["train"]["Real/0929_031/1"]) == (0, "none", "")
    assert set(load_from_disk(str(out / "casia_surf_3dmask"))["train"]["frame_index"]) == {6, 9}
    report = reports["casia_surf_3dmask"]
    assert report["frames_by_box_source"] == {"face_crop": 8}
    reasons = skipped(report)
    assert reasons["Real/not_a_subject"] == "not a Real/<MMDD_SSS> subject folder"
    assert reasons["Fake/0929_031/1/4"] == "missing file"
    assert reasons["Real/0929_031/15"].startswith("cannot decode")
    image = load_from_disk(str(out / "casia_surf_3dmask"))["train"][0]["image"]
    assert image.size == (224, 224)


def test_hifimask_protocol_split(built):
    out, reports, _ = built
    rows = rows_of(out, "hifimask")
    assert {split: sorted(videos) for split, videos in rows.items()} == {
        "train": ["Data/1_06_0_1_1_1", "Data/1_06_1_2_3_4", "Data/1_06_2_1_0_8"],
        "dev": ["Data/1_21_0_1_1_1", "Data/1_21_3_6_5_2"],
        "test": ["Data/2_54_0_3_2_1", "Data/2_54_3_4_0_5"],
    }
    assert kinds(rows["train"]["Data/1_06_0_1_1_1"]) == (0, "none", "")  # the list says 1 (flipped trap)
    assert kinds(rows["train"]["Data/1_06_1_2_3_4"]) == (1, "mask", "transparent")
    assert kinds(rows["train"]["Data/1_06_2_1_0_8"]) == (1, "mask", "plaster")
    assert kinds(rows["test"]["Data/2_54_3_4_0_5"]) == (1, "mask", "resin")
    assert subjects_disjoint(rows)
    reasons = skipped(reports["hifimask"])
    assert reasons["Data/1_06_9_1_1_1"].startswith("not a <C>_<SS>")
    assert reasons["Data/2_54_2_2_2_2"] == "in none of the protocol 1 lists"
    assert reasons["Data/2_54_1_5_0_3"] == "missing file"
    assert reasons["Data/1_21_1_1_1_1"].startswith("cannot decode")


def test_hifimask_without_protocol_splits_by_subject(tmp_path):
    items = [i for i in hifimask.scan(make_hifimask(tmp_path, with_protocol=False)) if hasattr(i, "split")]
    splits = {}
    for item in items:
        splits.setdefault(item.subject, set()).add(item.split)
    assert splits == {"6": {"train"}, "21": {"test"}, "54": {"train"}}


def test_wmca(built):
    out, reports, log = built
    rows = rows_of(out, "wmca")
    train, dev, test = rows["train"], rows["dev"], rows["test"]
    assert kinds(train["17.01.18/001_01_000_0_00"]) == (0, "none", "")
    assert kinds(train["17.01.18/001_01_003_2_81"]) == (1, "mask", "type2_pai81_silicone_mask")  # 4-D 'data' form
    assert kinds(train["17.01.18/001_01_004_1_08"]) == (1, "partial", "type1_pai8_wig")
    assert kinds(dev["18.01.18/002_01_005_3_05"]) == (1, "replay", "type3_pai5_electronic_photo")
    assert kinds(dev["18.01.18/002_01_006_1_13"]) == (1, "mask", "type1_pai13_transparent_mask")
    assert kinds(test["19.01.18/003_02_000_0_01"]) == (0, "none", "")  # the CSV says attack; the type id wins
    assert kinds(test["19.01.18/003_02_007_4_02"]) == (1, "replay", "type4_pai2_video_pause")
    assert kinds(test["19.01.18/003_02_008_3_02"]) == (1, "print", "type3_pai2_printed_photo")
    assert {split: {r["subject"] for r in v.values()} for split, v in rows.items()} == {"train": {"1"}, "dev": {"2"}, "test": {"3"}}
    assert "type id wins" in log
    report = reports["wmca"]
    assert report["frames_by_box_source"] == {"face_crop": 16}
    assert set(load_from_disk(str(out / "wmca"))["train"]["frame_index"]) == {6, 9}
    reasons = skipped(report)
    assert reasons["19.01.18/003_02_011_2_02.hdf5"] == "not listed in WMCA_Grandtest.txt"
    assert reasons["18.01.18/002_01_010_2_01"] == "missing file"
    assert reasons["19.01.18/003_02_009_4_01"].startswith("cannot decode")


@pytest.mark.parametrize(
    "type_id, pai, expected",
    [(0, 2, ("none", "")), (1, 1, ("partial", "funny_eyes_glasses")), (1, 16, ("partial", "paper_glasses")),
     (1, 2, ("mask", "halloween_mask")), (1, 3, ("other", "facial_disguise")), (2, 5, ("mask", "mannequin")),
     (2, 9, ("mask", "papercraft_mask")), (2, 14, ("mask", "rigid_mask")), (3, 10, ("replay", "electronic_photo")),
     (3, 11, ("print", "printed_photo")), (4, 1, ("replay", "video_play")), (5, 7, ("makeup", "makeup")), (6, 1, None)],
)
def test_wmca_type_and_pai_mapping(type_id, pai, expected):
    assert wmca.attack_of(type_id, pai) == expected


def test_media_sources(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", n_frames=12, width=1)  # 1.png ... 12.png: natural order
    assert [i for i, _ in iter_media_frames(folder, "first_last")] == [0, 11]
    (_, last), = iter_media_frames(folder, "11")
    assert np.asarray(last)[0, 0, 0] == (20 + 9 * 11) % 256
    container = write_frame_container(tmp_path / "v.hdf5")
    frames = list(iter_media_frames(container, "all"))
    assert len(frames) == 10 and np.asarray(frames[3][1])[0, 0, 0] == (20 + 9 * 3) % 256  # FrameIndexes order
    with h5py.File(tmp_path / "empty.hdf5", "w") as handle:
        handle["junk"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a frame container"):
        list(iter_media_frames(tmp_path / "empty.hdf5"))
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(ValueError, match="has no"):
        list(iter_media_frames(tmp_path / "no_frames"))
    with pytest.raises(FileNotFoundError):
        iter_media_frames(tmp_path / "absent.hdf5")


def test_one_to_eleven_is_complete_and_ocim_unchanged(built, tmp_path):
    out, _, _ = built
    assert missing_corpora("one_to_eleven", out) == {}
    data = load_protocol("one_to_eleven", out)
    assert list(data.train_parts) == ["celeba_spoof"] and set(data.dev["dataset"]) == {"celeba_spoof"}
    assert list(data.test) == list(ONE_TO_ELEVEN_TARGETS)
    for corpus, test_set in data.test.items():
        assert test_set.num_rows > 0 and set(test_set["dataset"]) == {corpus}
        assert {0, 1} <= set(test_set["label"]), corpus
    unbuilt = missing_corpora("one_to_eleven", tmp_path)
    assert len(unbuilt) == 12 and all(why.startswith("not built") for why in unbuilt.values())
    ocim = {name: (p.sources, p.targets) for name, p in PROTOCOLS.items() if name != "one_to_eleven"}
    assert ocim == {
        "OCI_to_M": (("oulu_npu", "casia_mfsd", "replay_attack"), ("msu_mfsd",)),
        "OCI_celeba_to_M": (("oulu_npu", "casia_mfsd", "replay_attack", "celeba_spoof"), ("msu_mfsd",)),
        "OMI_to_C": (("oulu_npu", "msu_mfsd", "replay_attack"), ("casia_mfsd",)),
        "OMI_celeba_to_C": (("oulu_npu", "msu_mfsd", "replay_attack", "celeba_spoof"), ("casia_mfsd",)),
        "OCM_to_I": (("oulu_npu", "casia_mfsd", "msu_mfsd"), ("replay_attack",)),
        "OCM_celeba_to_I": (("oulu_npu", "casia_mfsd", "msu_mfsd", "celeba_spoof"), ("replay_attack",)),
        "ICM_to_O": (("replay_attack", "casia_mfsd", "msu_mfsd"), ("oulu_npu",)),
        "ICM_celeba_to_O": (("replay_attack", "casia_mfsd", "msu_mfsd", "celeba_spoof"), ("oulu_npu",)),
    }
    assert list(load_protocol("OCI_to_M", out).test) == ["msu_mfsd"]


def test_build_all_builds_what_it_finds_and_lists_the_rest(tmp_path):
    make_wmca(tmp_path / "raw" / "wmca")
    make_hifimask(tmp_path / "raw" / "hifimask")
    (tmp_path / "raw" / "siw").mkdir()  # a folder without SiW inside: its build fails, the others go on
    summary = build_all(tmp_path / "raw", tmp_path / "out", detector="none")
    assert sorted(summary["built"]) == ["hifimask", "wmca"]
    assert list(summary["failed"]) == ["siw"] and "does not look like SiW" in summary["failed"]["siw"]
    assert sorted(summary["missing"]) == sorted(set(BUILDERS) - {"hifimask", "siw", "wmca"})
    assert (tmp_path / "out" / "wmca" / "dataset_dict.json").is_file()
