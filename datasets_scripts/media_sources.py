"""Frames from the three kinds of media corpora ship: video files, frame folders and HDF5 frame containers.

`iter_media_frames(path, policy)` picks the reader from what `path` is and yields (frame index, upright RGB image)
for the frames the policy picks (policies of `datasets_scripts.video`, e.g. ``flip`` = 6 and 6 + N//2):
- a video file: `datasets_scripts.video.iter_frames` (display rotation honoured);
- a folder of frames (HiFiMask crop release `Data/<video>/NNNN.png`, CASIA-FAS-Dataset 3DMask `<video>/NN.png`):
  the .png/.jpg/.jpeg files directly inside it in natural order (2.png before 10.png); index = position; each is
  decoded by `image_io_ifas.load_image` (strict, EXIF-upright, size-checked), as at inference;
- an .hdf5/.h5 file (WMCA preprocessed release, written by bob's FrameContainer): groups `Frame_<id>`, each with
  one image dataset (bob names it `array`), in the order of `FrameIndexes` when present, else by id; or one
  top-level 4-D dataset (`data` or `array`, N frames). Images are CHW (bob) or HWC, 3 channels or 1 (grey),
  uint8 or float in [0, 255]; index = position in the container.
Missing paths raise FileNotFoundError; an empty folder or container raises ValueError naming the path.
h5py is imported only for HDF5 files.

Example:
    >>> natural_key(Path("10.png")) > natural_key(Path("2.png"))
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from datasets_scripts.video import iter_frames, sample_indices
from image_io_ifas import load_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HDF5_SUFFIXES = (".hdf5", ".h5")
FRAME_GROUP = re.compile(r"^Frame_(\d+)$")


def natural_key(path: Path) -> tuple:
    """Sort key that orders numbered names by number ("2.png" before "10.png")."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def frame_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, in natural order."""
    return sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)


def iter_folder_frames(folder: str | Path, policy: str = "flip") -> Iterator[tuple[int, Image.Image]]:
    """(index, RGB image) for the frames `policy` picks from a folder of frame images."""
    files = frame_files(Path(folder))
    if not files:
        raise ValueError(f"{folder}: frame folder has no {'/'.join(IMAGE_SUFFIXES)} images")
    for index in sample_indices(len(files), policy):
        yield index, load_image(files[index])


def to_rgb_image(array: np.ndarray, where: str) -> Image.Image:
    """A PIL RGB image from a CHW or HWC array with 1 or 3 channels (or a 2-D grey array)."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"{where}: frame of shape {array.shape} is not a grey or RGB image")
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).convert("RGB")


def _hdf5_frame_names(handle, path: Path) -> list[str]:
    if "FrameIndexes" in handle:
        order = handle["FrameIndexes"]
        names = [order[key][()] for key in sorted(order, key=int)]
        return [name.decode() if isinstance(name, bytes) else str(name) for name in names]
    groups = [name for name in handle if FRAME_GROUP.match(name)]
    return sorted(groups, key=lambda name: int(FRAME_GROUP.match(name).group(1)))


def _group_image(group, where: str) -> np.ndarray:
    datasets = [name for name in group if hasattr(group[name], "shape")]
    name = "array" if "array" in datasets else (datasets[0] if datasets else None)
    if name is None:
        raise ValueError(f"{where}: frame group has no image dataset")
    return group[name][()]


def iter_hdf5_frames(path: str | Path, policy: str = "flip") -> Iterator[tuple[int, Image.Image]]:
    """(index, RGB image) for the frames `policy` picks from an HDF5 frame container (see the module docstring)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as handle:
        names = _hdf5_frame_names(handle, path)
        if names:
            for index in sample_indices(len(names), policy):
                where = f"{path}:{names[index]}"
                if names[index] not in handle:
                    raise ValueError(f"{where}: listed in FrameIndexes but absent")
                yield index, to_rgb_image(_group_image(handle[names[index]], where), where)
            return
        stacked = next((handle[n] for n in ("data", "array") if n in handle and handle[n].ndim == 4), None)
        if stacked is None or len(stacked) == 0:
            raise ValueError(f"{path}: no Frame_<id> groups and no 4-D 'data'/'array' dataset; not a frame container")
        for index in sample_indices(len(stacked), policy):
            yield index, to_rgb_image(stacked[index], f"{path}[{index}]")


def iter_media_frames(path: str | Path, policy: str = "flip") -> Iterator[tuple[int, Image.Image]]:
    """(index, upright RGB image) for the frames `policy` picks from a video file, frame folder or HDF5 file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing file")
    if path.is_dir():
        return iter_folder_frames(path, policy)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return iter_hdf5_frames(path, policy)
    return iter_frames(path, policy)
