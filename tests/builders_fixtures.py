"""Miniature raw corpus trees for the builder tests, with the exact file and folder names of corpora.md.

Videos are tiny MPEG-4 clips (64x64, 20 frames) whose frames differ; each video has the corpus's own box file
unless told otherwise. `astronaut_face` gives a real face (scikit-image, public domain) for detector tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

N_FRAMES = 20
SIZE = 64
BOX = (16, 12, 48, 52)  # x1, y1, x2, y2 of the drawn "face"


def astronaut_face(side: int = 64) -> Image.Image:
    """The astronaut's face (with some hair and collar), resized to side x side."""
    from skimage import data

    return Image.fromarray(data.astronaut()).crop((150, 30, 300, 200)).resize((side, side))


def frame_image(index: int, size: int = SIZE, face: Image.Image | None = None, blank: bool = False) -> Image.Image:
    """A frame whose colour depends on `index`, with a bright block (or `face`) at BOX unless `blank`."""
    array = np.full((size, size, 3), (20 + 9 * index) % 256, dtype=np.uint8)
    image = Image.fromarray(array)
    if face is not None:
        image.paste(face, ((size - face.width) // 2, (size - face.height) // 2))
    elif not blank:
        x1, y1, x2, y2 = BOX
        array[y1:y2, x1:x2] = (200, 160, 120)
        image = Image.fromarray(array)
    return image


def write_video(path: Path, n_frames: int = N_FRAMES, size: int = SIZE, face=None, blank_from: int | None = None,
                rotation: int = 0) -> Path:
    """Write an MPEG-4 video (container from the suffix); frames from `blank_from` on have no face."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = size, size, "yuv420p", 4_000_000
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(n_frames):
            blank = blank_from is not None and i >= blank_from
            image = frame_image(i, size, face=None if blank else face, blank=blank)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_face_file(path: Path, fmt: str = "xywh", n_frames: int = N_FRAMES, sep: str = " ") -> Path:
    """A per-frame box file: `frame x y w h` (xywh) or `frame x1 y1 x2 y2` (xyxy)."""
    x1, y1, x2, y2 = BOX
    values = (x1, y1, x2 - x1, y2 - y1) if fmt == "xywh" else BOX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sep.join(str(v) for v in (i, *values)) + "\n" for i in range(n_frames)))
    return path


def write_oulu_eyes(path: Path, n_frames: int = N_FRAMES) -> Path:
    """An OULU eye file (`frame,lx,ly,rx,ry`) whose eyes sit in the upper third of BOX."""
    x1, y1, x2, _ = BOX
    d = (x2 - x1) / 2
    cx, cy = (x1 + x2) / 2, y1 + 0.8 * d
    path.write_text("".join(f"{i},{cx - d / 2:.1f},{cy:.1f},{cx + d / 2:.1f},{cy:.1f}\n" for i in range(n_frames)))
    return path


def make_casia(root: Path, train_subjects=(1, 2), test_subjects=(1,), names=None) -> Path:
    """CASIA_faceAntisp/{train,test}_release/<k>/<v>.avi with face-locations/<release>/<k>/<v>.face."""
    names = names or ["1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4"]
    base = root / "CASIA_faceAntisp"
    for release, subjects in (("train_release", train_subjects), ("test_release", test_subjects)):
        for k in subjects:
            for v in names:
                write_video(base / release / str(k) / f"{v}.avi")
                write_face_file(base / "face-locations" / release / str(k) / f"{v}.face")
    return base


def make_replay(root: Path, clients=None) -> Path:
    """replayattack-{train,devel,test}/<split>/{real,attack/{fixed,hand}}/*.mov + face-locations/ + enroll/."""
    clients = clients or {"train": ("001",), "devel": ("003",), "test": ("002",)}
    for split, ids in clients.items():
        top = root / f"replayattack-{split}"
        for c in ids:
            videos = [
                f"real/client{c}_session01_webcam_authenticate_controlled_1.mov",
                f"real/client{c}_session01_webcam_authenticate_adverse_2.mov",
                f"attack/fixed/attack_print_client{c}_session01_highdef_photo_controlled.mov",
                f"attack/hand/attack_highdef_client{c}_session01_highdef_video_adverse.mov",
                f"attack/hand/attack_mobile_client{c}_session01_mobile_photo_controlled.mov",
            ]
            for relative in videos:
                write_video(top / split / relative)
                write_face_file(top / "face-locations" / split / Path(relative).with_suffix(".face"))
    write_video(root / "replayattack-train" / "enroll" / "client001_session01_enroll_controlled_1.mov")
    return root


def make_msu(root: Path, train=(2,), test=(1, 3)) -> Path:
    """MSU-MFSD/scene01/{real,attack}/ + train_sub_list.txt / test_sub_list.txt; android videos rotated 90 degrees."""
    base = root / "MSU-MFSD"
    (base / "scene01").mkdir(parents=True)
    (base / "train_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in train))
    (base / "test_sub_list.txt").write_text("".join(f"{s:02d}\n" for s in test))
    for s in (*train, *test):
        for name, rotation in (
            (f"real/real_client{s:03d}_laptop_SD_scene01.mov", 0),
            (f"real/real_client{s:03d}_android_SD_scene01.mp4", 90),
            (f"attack/attack_client{s:03d}_laptop_SD_printed_photo_scene01.mov", 0),
            (f"attack/attack_client{s:03d}_android_HD_ipad_video_scene01.mp4", 90),
            (f"attack/attack_client{s:03d}_laptop_HD_iphone_video_scene01.mov", 0),
        ):
            video = write_video(base / "scene01" / name, rotation=rotation)
            write_face_file(video.with_suffix(".face"), fmt="xyxy", sep=",")
    return base


def make_oulu(root: Path, users=None) -> Path:
    """OULU-NPU/{Train,Dev,Test}_files/<P>_<S>_<U>_<F>.avi + eye .txt + Protocols/ with polarity-trap lists."""
    users = users or {"Train_files": ("01",), "Dev_files": ("21",), "Test_files": ("36",)}
    base = root / "OULU-NPU"
    for folder, ids in users.items():
        for u in ids:
            for f in range(1, 6):
                video = write_video(base / folder / f"1_1_{u}_{f}.avi")
                write_oulu_eyes(video.with_suffix(".txt"))
    protocol = base / "Protocols" / "Protocol_1"
    protocol.mkdir(parents=True)
    # Trap: this list claims the attacks are live (+1) and the live video is an attack; the builder must ignore it.
    protocol.joinpath("Train.txt").write_text("-1,1_1_01_1\n+1,1_1_01_2\n+1,1_1_01_4\n")
    return base


def make_celeba(root: Path, with_json: bool = True) -> Path:
    """CelebA_Spoof/Data/{train,test}/<subject>/{live,spoof}/<id>.jpg + _BB.txt + metas/intra_test/*_label.json."""
    base = root / "CelebA_Spoof"
    images = {
        "Data/train/10/live/000001.jpg": (0, 0),
        "Data/train/10/spoof/000002.jpg": (2, 1),
        "Data/train/11/spoof/000003.png": (8, 1),
        "Data/train/11/live/000004.jpg": (0, 0),
        "Data/test/20/live/000005.jpg": (0, 0),
        "Data/test/20/spoof/000006.jpg": (4, 1),
        "Data/test/20/spoof/000007.jpg": (6, 1),
    }
    labels = {"train": {}, "test": {}}
    for relative, (spoof_type, flag) in images.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        image = frame_image(3, size=112)
        image.save(path)
        x1, y1, x2, y2 = BOX
        scale = 224 / 112  # _BB.txt boxes live in a 224x224 reference frame
        path.with_name(f"{path.stem}_BB.txt").write_text(
            f"{x1 * scale:.0f} {y1 * scale:.0f} {(x2 - x1) * scale:.0f} {(y2 - y1) * scale:.0f} 0.99\n"
        )
        labels[relative.split("/")[1]][relative] = [0] * 40 + [spoof_type, 1, 1, flag]
    if with_json:
        metas = base / "metas" / "intra_test"
        metas.mkdir(parents=True)
        for split, entries in labels.items():
            (metas / f"{split}_label.json").write_text(json.dumps(entries))
    return base
