"""Miniature raw trees of SiW, SiW-M, ROSE-Youtu, HKBU-MARs V2, CASIA-SURF 3DMask, HiFiMask and WMCA (RGB HDF5).

File and folder names are the exact ones of corpora.md; each tree also holds the corpus's polarity trap (a list
with the opposite 0/1 convention), a file the name rule must refuse, a corrupt file and a missing one (a broken
link). Videos are tiny MPEG-4 clips from `builders_fixtures` (20 frames -> frames 6 and 16 under ``flip``);
frame folders and HDF5 containers hold 10 small face-crop frames (-> frames 6 and 9).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from builders_fixtures import BOX, astronaut_face, frame_image, write_face_file, write_video

N_CROP_FRAMES = 10
CROP_SIZE = 48


def broken_link(path: Path) -> Path:
    """A link at `path` whose target does not exist (a file listed but gone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.parent / f"gone-{path.name}")
    return path


def corrupt(path: Path) -> Path:
    """Bytes that are no video, image or HDF5 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"definitely not media " * 40)
    return path


def face_video(path: Path) -> Path:
    """A 96x96 video with a real face in it, for corpora without box files (the detector must find it)."""
    return write_video(path, size=96, face=astronaut_face(64))


def write_frame_folder(folder: Path, n_frames: int = N_CROP_FRAMES, suffix: str = ".png", width: int = 3) -> Path:
    """`folder/0001.png` ... face-crop frames (the frame number decides the colour)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_frames):
        frame_image(i, size=CROP_SIZE).save(folder / f"{i + 1:0{width}d}{suffix}")
    return folder


def write_frame_container(path: Path, n_frames: int = N_CROP_FRAMES, stacked: bool = False) -> Path:
    """A bob FrameContainer HDF5 (`Frame_<id>/array`, CHW uint8, + `FrameIndexes`) or one 4-D `data` dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [np.moveaxis(np.asarray(frame_image(i, size=CROP_SIZE)), -1, 0) for i in range(n_frames)]
    with h5py.File(path, "w") as handle:
        if stacked:
            handle["data"] = np.stack(frames)
            return path
        for i, frame in enumerate(frames):
            handle[f"Frame_{i * 3}/array"] = frame  # bob keeps the original frame ids (here every 3rd frame)
            handle[f"FrameIndexes/{i}"] = f"Frame_{i * 3}"
    return path


def make_siw(root: Path) -> Path:
    """SiW/{Train,Test}/{live,spoof}/<SSS>/<SSS>-<sensor>-<type>-<medium>-<session>.mov + `.face` (x1 y1 x2 y2 per line)."""
    base = root / "SiW"
    videos = {
        "Train": ("001", ["live/001/001-1-1-1-1", "spoof/001/001-1-2-1-1", "spoof/001/001-2-3-2-2"]),
        "Test": ("091", ["live/091/091-1-1-1-1", "spoof/091/091-1-2-2-1", "spoof/091/091-1-3-4-3"]),
    }
    for split, (_, names) in videos.items():
        for name in names:
            video = write_video(base / split / f"{name}.mov")
            video.with_suffix(".face").write_text("".join(" ".join(map(str, BOX)) + "\n" for _ in range(20)))
    write_video(base / "Train" / "spoof" / "001" / "001-1-1-3-1.mov")  # trap: a live type filed under spoof/
    corrupt(base / "Test" / "spoof" / "091" / "091-2-3-1-1.mov")
    broken_link(base / "Train" / "live" / "001" / "001-2-1-1-2.mov")
    return base


def make_siw_m(root: Path) -> Path:
    """SiW-M/{Live/{Train,Test},Paper,Replay,Mask/<kind>,Makeup/<kind>,Partial/<kind>}/<Prefix>_<n>.mov (no boxes)."""
    base = root / "SiW-M"
    for relative in (
        "Live/Train/Live_1.mov", "Live/Test/Live_2.mov", "Paper/Paper_1.mov", "Replay/Replay_1.mov",
        "Mask/HalfMask/Mask_Half_1.mov", "Makeup/Cosmetic/Makeup_Co_1.mov", "Partial/PaperCut/Partial_Eye_1.mov",
    ):
        face_video(base / relative)
    write_video(base / "Mask" / "SiliconeMask" / "Live_3.mov")  # trap: a "Live" name inside a spoof folder
    corrupt(base / "Partial" / "FunnyeyeGlasses" / "Partial_Funnyeye_1.mov")
    broken_link(base / "Live" / "Test" / "Live_4.mov")
    return base


def make_rose(root: Path, subjects=(5, 2)) -> Path:
    """ROSE-Youtu/<subject>/<code>_<T|NT>_<dev>_<g|wg>_E_<subject>_<n>.mp4 + `.face` (frame,x1,y1,x2,y2)."""
    base = root / "ROSE-Youtu"
    for s in subjects:
        for k, stem in enumerate(("G_NT_HS_g_E", "Ps_T_5s_g_E", "Vl_NT_HW_wg_E", "Mc_T_ZTE_g_E"), 1):
            video = write_video(base / str(s) / f"{stem}_{s}_{k}.mp4")
            write_face_file(video.with_suffix(".face"), fmt="xyxy", sep=",")
    write_video(base / str(subjects[0]) / f"G_NT_IP_g_E_{subjects[1]}_9.mp4")  # trap: subject field != folder
    corrupt(base / str(subjects[1]) / f"Mu_T_IP_wg_E_{subjects[1]}_7.mp4")
    broken_link(base / str(subjects[1]) / f"Pq_NT_HS_g_E_{subjects[1]}_8.mp4")
    return base


def make_hkbu(root: Path, subjects=("01", "02")) -> Path:
    """HKBU-MARs-V2/{real,attack}/<SS>/<CC>_<LL>_<SS>.avi (no boxes) + CASIA-FAS-Dataset's real.txt (1 = live)."""
    base = root / "HKBU-MARs-V2"
    for s in subjects:
        for folder in ("real", "attack"):
            face_video(base / folder / s / f"01_01_{s}.avi")
    (base / "real.txt").write_text(f"/Data/HKBU/real/{subjects[0]}/01_01_{subjects[0]} 1\n")  # 1 = live there
    write_video(base / "attack" / subjects[0] / f"02_01_{subjects[1]}.avi")  # trap: SS != subject folder
    corrupt(base / "real" / subjects[1] / f"03_02_{subjects[1]}.avi")
    broken_link(base / "attack" / subjects[1] / f"04_02_{subjects[1]}.avi")
    return base


def make_3dmask(root: Path, subjects=("0927_013", "0929_031")) -> Path:
    """3DMask/Real/<MMDD_SSS>/<n>/NN.png and 3DMask/Fake/<MMDD_SSS>/<k>/<n>/NN.png + the list (1 real, -1 fake)."""
    base = root / "3DMask"
    for s in subjects:
        write_frame_folder(base / "Real" / s / "1", width=2)
        write_frame_folder(base / "Fake" / s / "2" / "3", width=2)
    (base / "CASIA_SURF_3DMask_list.txt").write_text(f"1,Fake_{subjects[0]}_2_3\n-1,Real_{subjects[0]}_1\n")  # flipped
    write_frame_folder(base / "Real" / "not_a_subject" / "1", width=2)
    folder = write_frame_folder(base / "Real" / subjects[1] / "15", width=2)
    corrupt(folder / "07.png")  # the frame picked under flip is not an image
    broken_link(base / "Fake" / subjects[1] / "1" / "4.mp4")
    return base


def make_hifimask(root: Path, with_protocol: bool = True) -> Path:
    """CASIA_HiFiMask/Data/<C>_<SS>_<T>_<Scene>_<Light>_<Sensor>/NNNN.png + protocol/CASIA_HiFiMask@p1_video_*.txt."""
    base = root / "CASIA_HiFiMask"
    lists = {"train": ["1_06_0_1_1_1", "1_06_1_2_3_4", "1_06_2_1_0_8"], "dev": ["1_21_0_1_1_1", "1_21_3_6_5_2"],
             "test": ["2_54_0_3_2_1", "2_54_3_4_0_5"]}
    for names in lists.values():
        for name in names:
            write_frame_folder(base / "Data" / name, width=4)
    write_frame_folder(base / "Data" / "1_06_9_1_1_1", width=4)  # type 9 does not exist
    write_frame_folder(base / "Data" / "2_54_2_2_2_2", width=4)  # in no protocol list
    corrupt(write_frame_folder(base / "Data" / "1_21_1_1_1_1", width=4) / "0007.png")
    broken_link(base / "Data" / "2_54_1_5_0_3")
    lists["dev"] += ["1_21_1_1_1_1"]
    lists["test"] += ["2_54_1_5_0_3"]
    if with_protocol:
        protocol = base / "protocol"
        protocol.mkdir()
        for split, names in lists.items():
            # Trap: 0 = live in these lists; here every label is flipped, and the builder must not read it.
            lines = [f"CASIA_HiFiMask/Data/{n} {0 if n.split('_')[2] != '0' else 1}\n" for n in names]
            (protocol / f"CASIA_HiFiMask@p1_video_{split}.txt").write_text("".join(lines))
    return base


WMCA_FILES = {  # <date>/<CCC>_<SS>_<PPP>_<T>_<AA>: (group, csv label)
    "17.01.18/001_01_000_0_00": ("train", "bonafide"),
    "17.01.18/001_01_003_2_81": ("train", "attack"),
    "17.01.18/001_01_004_1_08": ("train", "attack"),
    "18.01.18/002_01_005_3_05": ("dev", "attack"),
    "18.01.18/002_01_006_1_13": ("dev", "attack"),
    "19.01.18/003_02_000_0_01": ("eval", "attack"),  # trap: the CSV calls this bona fide video an attack
    "19.01.18/003_02_007_4_02": ("eval", "attack"),
    "19.01.18/003_02_008_3_02": ("eval", "attack"),
}


def make_wmca(root: Path) -> Path:
    """WMCA/preprocessed-face-station_RGB/<date>/<name>.hdf5 + WMCA_Grandtest.txt (CSV ,client_id,filepath,group,label)."""
    base = root / "WMCA"
    rgb = base / "preprocessed-face-station_RGB"
    for i, key in enumerate(WMCA_FILES):
        write_frame_container(rgb / f"{key}.hdf5", stacked=i == 1)
    rows = [",client_id,filepath,group,label\n"]
    rows += [f"{i},{int(k.split('/')[1][:3])},face-station/{k},{g},{label}\n" for i, (k, (g, label)) in enumerate(WMCA_FILES.items())]
    rows += ["8,3,face-station/19.01.18/003_02_009_4_01,eval,attack\n", "9,2,face-station/18.01.18/002_01_010_2_01,dev,attack\n"]
    (base / "WMCA_Grandtest.txt").write_text("".join(rows))
    write_frame_container(rgb / "19.01.18" / "003_02_011_2_02.hdf5")  # in no CSV row
    corrupt(rgb / "19.01.18" / "003_02_009_4_01.hdf5")
    broken_link(rgb / "18.01.18" / "002_01_010_2_01.hdf5")
    return base
