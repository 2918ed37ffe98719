"""Benchmark the FAS metrics on 1M scores: seconds and peak RSS per case; rows go to BENCHMARKS.md.

Each case runs in a fresh child process so its peak RSS (VmHWM) is its own: synthetic data (1M frames, 30% live,
three attack types, 10 frames per video, a 100k-frame dev set) is built first, then the metric is timed.

Run: ``.venv/bin/python bench/bench_metrics.py`` (add ``--no-write`` to only print the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Metrics (bench/bench_metrics.py)"
N_SAMPLES = 1_000_000
FRAMES_PER_VIDEO = 10
CASES = {
    "frame": "compute_fas_metrics, frame level, dev threshold from a 100k dev set",
    "video": "compute_fas_metrics, video level (100k videos of 10 frames)",
    "evaluate": "evaluate.load(fas_metrics).compute, frame level",
}


def _mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def synthetic(n: int, seed: int) -> dict:
    """Frame scores whose 10-frame videos share one label and attack type."""
    rng = np.random.default_rng(seed)
    n_videos = n // FRAMES_PER_VIDEO
    video_labels = (rng.random(n_videos) >= 0.3).astype(np.int64)
    video_attacks = np.where(video_labels == 0, "none", rng.choice(["print", "replay", "mask"], n_videos))
    labels = np.repeat(video_labels, FRAMES_PER_VIDEO)
    scores = np.where(labels == 0, rng.beta(5, 2, n), rng.beta(2, 5, n))
    return {
        "scores": scores,
        "labels": labels,
        "attack_types": np.repeat(video_attacks, FRAMES_PER_VIDEO).astype(object),
        "video_ids": np.repeat(np.array([f"video{v}" for v in range(n_videos)], dtype=object), FRAMES_PER_VIDEO),
    }


def run_case(case: str) -> dict:
    """Time one case in this process; return seconds and memory in MiB."""
    from ifas.fas_metrics import compute_fas_metrics

    test, dev = synthetic(N_SAMPLES, 0), synthetic(N_SAMPLES // 10, 1)
    kwargs = {"attack_types": test["attack_types"], "dev_predictions": dev["scores"], "dev_references": dev["labels"]}
    if case == "video":
        kwargs.update(video_ids=test["video_ids"], video_level=True, dev_video_ids=dev["video_ids"])
    if case == "evaluate":
        import evaluate

        metric = evaluate.load(str(ROOT / "ifas" / "fas_metrics"))
        run = lambda: metric.compute(predictions=test["scores"], references=test["labels"], **kwargs)  # noqa: E731
    else:
        run = lambda: compute_fas_metrics(test["scores"], test["labels"], **kwargs)  # noqa: E731
    rss_before = _mib("VmRSS")
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mib": _mib("VmHWM"), "rss_before_mib": rss_before, "auc": result["auc"]}


def markdown(rows: dict) -> str:
    import numpy
    import sklearn

    lines = [
        SECTION,
        "",
        f"{N_SAMPLES:,} scores; {os.cpu_count()} CPU cores (shared), Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}; one run per case, each in a fresh process. "
        "RSS before = process after imports and data generation; peak = VmHWM of the process.",
        "",
        "| Case | Seconds | Peak RSS (MiB) | RSS before (MiB) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {CASES[case]} | {r['seconds']:.2f} | {r['peak_rss_mib']:.0f} | {r['rss_before_mib']:.0f} |"
              for case, r in rows.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    parser.add_argument("--no-write", action="store_true", help="print the rows without editing BENCHMARKS.md")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows = {}
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True, env=env,
                             cwd=ROOT, check=True)
        rows[case] = json.loads(out.stdout.strip().splitlines()[-1])
    section = markdown(rows)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
