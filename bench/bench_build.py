"""Corpus-builder throughput and memory, written as Markdown rows into BENCHMARKS.md.

    .venv/bin/python bench/bench_build.py            # a few minutes on 2 CPU cores
    .venv/bin/python bench/bench_build.py --no_write # print only

Synthetic CASIA-MFSD trees of MPEG-4 videos (20 frames) showing the astronaut's face:
- frames/s end to end (scan, decode, MTCNN detect, square crop to 224, PNG encode, checkpoint, DatasetDict save)
  with 1 and 2 workers: 256x256 frames, face pasted in the middle, no box files so every frame is detected;
- peak RSS of a whole build process (one worker, corpus box files, every frame kept) for a corpus 1x and 10x the
  size: 96x96 frames filled with the face so crops are natural-image PNGs. Anonymous RSS is the memory the build
  holds; total RSS also counts the memory-mapped Arrow files that `save_to_disk` reads through, which the kernel can
  drop at will. The one buffer that grows with the data is `save_to_disk`'s write batch (datasets: at most 1000 rows
  or about 100 MB, copied a few times), so the 1x corpus has more than 1000 rows in its train split; past that,
  flat means memory does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from benchlib import section, write_section  # noqa: E402
from builders_fixtures import astronaut_face, write_video

from datasets_scripts.build import build_corpus

NAMES = ["1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4"]


def make_corpus(root: Path, n_videos: int, size: int, face_side: int, box_files: bool) -> Path:
    """A CASIA-MFSD tree of `n_videos` videos (every third one in test_release), the face centred."""
    base, face = root / "CASIA_faceAntisp", astronaut_face(face_side)
    start = (size - face_side) // 2
    for i in range(n_videos):
        subject, name = i // len(NAMES) + 1, NAMES[i % len(NAMES)]
        release = "test_release" if i % 3 == 2 else "train_release"
        video = write_video(base / release / str(subject) / f"{name}.avi", size=size, face=face)
        if box_files:
            box = f"{start} {start} {face_side} {face_side}"
            video.with_suffix(".face").write_text("".join(f"{f} {box}\n" for f in range(20)))
    return base


def frames_per_second(raw: Path, out: Path, num_proc: int) -> tuple[float, int]:
    started = time.perf_counter()
    report = build_corpus("casia_mfsd", raw, out, num_proc=num_proc)
    elapsed = time.perf_counter() - started
    frames = sum(split["frames"] for split in report["splits"].values())
    return frames / elapsed, frames


def peak_memory_mb(raw: Path, out: Path) -> dict[str, float]:
    """Peak anonymous RSS (heap: what the build needs) and peak total RSS (VmHWM, which also counts the pages of
    memory-mapped Arrow files that datasets reads, reclaimable page cache) of a fresh build process (Linux /proc)."""
    build = [sys.executable, "-m", "datasets_scripts.build", "casia_mfsd", "--root", str(raw), "--out", str(out),
             "--frames", "all", "--log_level", "ERROR"]
    process = subprocess.Popen(build, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = {"RssAnon": 0, "VmHWM": 0}
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except FileNotFoundError:
            break
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in peak:
                peak[key] = max(peak[key], int(value.split()[0]) / 1024)
        time.sleep(0.02)
    if process.wait() != 0:
        raise RuntimeError(f"build failed: {' '.join(build)}")
    return peak


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} CPU cores ({cpu}) shared with other jobs (load average {load} at the end), "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=36, help="videos in the throughput corpus")
    parser.add_argument("--rss_videos", type=int, default=80, help="videos in the 1x memory corpus (20 frames each)")
    parser.add_argument("--no_write", action="store_true", help="print the rows without touching BENCHMARKS.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = [
        "| measure | corpus | workers | result |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = make_corpus(tmp / "detect", args.videos, size=256, face_side=96, box_files=False)
        for num_proc in (1, 2):
            fps, frames = frames_per_second(raw, tmp / f"out_fps_{num_proc}", num_proc)
            rows.append(f"| frames/s end to end, MTCNN on every frame | {args.videos} videos 256x256, {frames} frames | "
                        f"{num_proc} | {fps:.1f} |")
        anon = {}
        for factor in (1, 10):
            n_videos = args.rss_videos * factor
            raw = make_corpus(tmp / f"rss_{factor}", n_videos, size=96, face_side=96, box_files=True)
            peak = peak_memory_mb(raw, tmp / f"out_rss_{factor}")
            anon[factor] = peak["RssAnon"]
            rows.append(f"| peak RSS of the build process, corpus boxes, all frames | {factor}x: {n_videos} videos, "
                        f"{20 * n_videos} frames | 1 | {peak['RssAnon']:.0f} MB anonymous, {peak['VmHWM']:.0f} MB "
                        "with mapped Arrow files |")
    rows.append(f"\nPeak anonymous RSS 10x / 1x: {anon[10] / anon[1]:.2f} (flat = about 1). Frames/s include starting the "
                "spawned workers (each imports torch and datasets, a few seconds) and the DatasetDict save; one torch "
                "thread per worker.")
    print("\n".join(rows))
    if not args.no_write:
        body = f"Command: `.venv/bin/python bench/bench_build.py`. Machine: {machine()}. Date: {datetime.date.today()}."
        write_section(section("Corpus builders (bench/bench_build.py)", body + "\n\n" + "\n".join(rows)))


if __name__ == "__main__":
    main()
