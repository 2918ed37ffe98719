"""Frame sampling from videos with PyAV, upright (display-rotation metadata applied).

Frame policies (the `--frames` option of the builder CLI):
- ``flip``        frames 6 and 6 + N//2 (FLIP / few_shot_fas, the default);
- ``first_last``  frames 0 and N-1 (CASIA-FAS-Benchmark dev/test);
- ``uniform:K``   K equidistant frames, ``round(i * (N-1) / (K-1))``;
- ``every:K``     every K-th frame from frame 0;
- ``all``         every frame;
- ``6,20,31``     explicit indices.
N is the number of frames the video really has (packets are counted, not read from the header); indices past
the end are clamped to N-1 and duplicates dropped, so a 5-frame video gives [4] under ``flip``.

Example:
    >>> sample_indices(100, "flip")
    [6, 56]
    >>> sample_indices(5, "first_last")
    [0, 4]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
from PIL import Image

FLIP_OFFSET = 6


def sample_indices(n_frames: int, policy: str = "flip") -> list[int]:
    """Return the sorted, unique frame indices `policy` picks from a video of `n_frames` frames."""
    if n_frames <= 0:
        return []
    last = n_frames - 1
    kind, _, arg = policy.partition(":")
    if policy == "flip":
        picked = [FLIP_OFFSET, FLIP_OFFSET + n_frames // 2]
    elif policy == "first_last":
        picked = [0, last]
    elif policy == "all":
        picked = list(range(n_frames))
    elif kind == "uniform" and arg.isdigit() and int(arg) > 0:
        k = int(arg)
        picked = [0] if k == 1 else [round(i * last / (k - 1)) for i in range(k)]
    elif kind == "every" and arg.isdigit() and int(arg) > 0:
        picked = list(range(0, n_frames, int(arg)))
    elif all(part.strip().isdigit() for part in policy.split(",")):
        picked = [int(part) for part in policy.split(",")]
    else:
        raise ValueError(
            f"unknown frame policy {policy!r}; use flip, first_last, all, uniform:K, every:K or indices like 6,20"
        )
    return sorted({min(i, last) for i in picked})


def check_policy(policy: str) -> str:
    """Return `policy` unchanged, or raise ValueError when it is not a valid frame policy."""
    sample_indices(1, policy)
    return policy


def count_frames(path: str | Path) -> int:
    """Count the video frames of `path` by demuxing its packets (cheap, exact, header-independent)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def upright(frame: av.VideoFrame) -> Image.Image:
    """Return `frame` as an RGB PIL image rotated as its display matrix asks (phones' portrait videos)."""
    image = frame.to_image()
    rotation = frame.rotation or 0
    return image.rotate(rotation, expand=True) if rotation % 360 else image


def iter_frames(path: str | Path, policy: str = "flip") -> Iterator[tuple[int, Image.Image]]:
    """Decode only the frames `policy` picks from the video at `path`, one at a time: (frame index, upright RGB).

    Raises FileNotFoundError when the file is absent, ValueError when it has no frames, and
    `av.error.FFmpegError` (an OSError or ValueError) when it cannot be decoded.
    """
    wanted = sample_indices(count_frames(path), policy)
    if not wanted:
        raise ValueError(f"{path}: video has no frames")
    wanted_set = set(wanted)
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted_set:
                yield index, upright(frame)
            if index >= wanted[-1]:
                break
