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

Reading fails closed: only local files are opened (a URL needs an explicit `url_timeout`, so a stalled server
cannot hang a job), FFmpeg decodes with error detection set to explode (`STRICT_DECODING`: a corrupt payload is an
error, not a silently concealed frame), a file whose frames stop before the sampled ones is an error, and a file
without video frames (audio only, or zero frames) raises "no video stream".

Example:
    >>> sample_indices(100, "flip")
    [6, 56]
    >>> sample_indices(5, "first_last")
    [0, 4]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
from PIL import Image

FLIP_OFFSET = 6
STRICT_DECODING = {"err_detect": "crccheck+bitstream+buffer+explode"}  # FFmpeg: corrupt data is an error
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # a scheme ("http:", "rtsp:", "file:", "pipe:"); not a drive "C:"


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


def open_video(path: str | Path, url_timeout: float | None = None) -> av.container.InputContainer:
    """Open a local video file (or, with `url_timeout` seconds, a URL) with its first video stream set to strict
    decoding; raise FileNotFoundError, or ValueError naming the file for a URL without a timeout or "no video stream".
    """
    name = os.fspath(path)
    if URL.match(name):
        if url_timeout is None:
            raise ValueError(f"video {name!r}: URLs are not opened without an explicit url_timeout (local files only)")
        options = {"timeout": float(url_timeout)}
    elif not os.path.isfile(name):
        raise FileNotFoundError(f"{name}: missing file (or not a regular file)")
    else:
        options = {}
    try:
        container = av.open(name, **options)
    except av.error.EOFError:
        raise ValueError(f"video {name!r}: no video stream (the file ends before any frame)") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"video {name!r}: no video stream")
    container.streams.video[0].codec_context.options = dict(STRICT_DECODING)
    return container


def count_frames(path: str | Path, url_timeout: float | None = None) -> int:
    """Count the video frames of `path` by demuxing its packets (cheap, exact, header-independent)."""
    with open_video(path, url_timeout) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


def upright(frame: av.VideoFrame) -> Image.Image:
    """Return `frame` as an RGB PIL image rotated as its display matrix asks (phones' portrait videos)."""
    image = frame.to_image()
    rotation = frame.rotation or 0
    return image.rotate(rotation, expand=True) if rotation % 360 else image


def iter_frames(
    path: str | Path, policy: str = "flip", url_timeout: float | None = None
) -> Iterator[tuple[int, Image.Image]]:
    """Decode only the frames `policy` picks from the video at `path`, one at a time: (frame index, upright RGB).

    Raises FileNotFoundError when the file is absent, ValueError naming the file when it has no video stream or
    its frames stop early, and `av.error.FFmpegError` (an OSError or ValueError) when its data is corrupt.
    """
    wanted = sample_indices(count_frames(path, url_timeout), policy)
    if not wanted:
        raise ValueError(f"video {str(path)!r}: no video stream (0 frames)")
    wanted_set, last = set(wanted), -1
    with open_video(path, url_timeout) as container:
        for last, frame in enumerate(container.decode(container.streams.video[0])):
            if last in wanted_set:
                yield last, upright(frame)
            if last >= wanted[-1]:
                return
    raise ValueError(f"video {str(path)!r}: decoding stopped after {last + 1} frame(s), before frame {wanted[-1]}")
