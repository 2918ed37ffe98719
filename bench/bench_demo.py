"""The demo as a benchmark: wall time and peak RSS of `ifas demo`, held-out-domain HTER/AUC of I-FAS, the binary
baseline and the ablations (no GAC, plain LM loss instead of L-LM, no captions, no connector warm start), each over
the demo's seeds (mean, median and range), with the full model's explanation rates and typographic injection flips
(from its demo_results.json).

    .venv/bin/python bench/bench_demo.py [--variants full,no_gac,plain_lm,no_captions,no_warm_start] [--reuse]
        [--full_results outputs/demo/demo_results.json] [--no-write]

Each variant is one fresh `ifas demo` run (its own process, same seeds, data and step count) under
outputs/bench_demo/VARIANT/; `--reuse` reads the variants that finished there before (an interrupted benchmark
resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, write_section  # noqa: E402

from ifas.reporting.typographic import INJECTION_TEXT  # noqa: E402

VARIANTS = {
    "full": ("I-FAS (GAC, L-LM alpha 0.7, SCF template captions)", []),
    "no_gac": ("w/o GAC (MLP patch tokens, 256 per image)", ["model.use_gac=false", "model.gac_mode=append"]),
    "plain_lm": ("plain LM loss instead of L-LM", ["training.judgment_weight=None"]),
    "no_captions": ("w/o captions (Yes/No answers only)", ["captioner=none"]),
    "no_warm_start": ("w/o the connector warm start (calibration only)", ["training.warm_start_connector_steps=0"]),
}


def run_variant(name: str, out: Path, reuse: bool = False) -> dict:
    """Run `ifas demo` for one variant in a child process; return its wall time, peak RSS and results. With `reuse`, a
    finished run in `out` (its `bench_run.json`) is read instead of run again."""
    record = out / "bench_run.json"
    if reuse and record.exists():
        return json.loads(record.read_text())
    overrides = [arg for item in VARIANTS[name][1] for arg in ("--set", item)]
    command = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", sys.executable, "-m", "ifas", "demo", "--out", str(out),
               *overrides]
    start = time.time()
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    minutes = (time.time() - start) / 60
    if run.returncode != 0:
        raise RuntimeError(f"variant {name} failed:\n{run.stderr[-4000:]}")
    rss_kb = int(run.stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])
    run = {"minutes": minutes, "peak_rss_mib": rss_kb / 1024,
           "results": json.loads((out / "demo_results.json").read_text())}
    record.write_text(json.dumps(run))
    return run


def percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def spread(document: dict, model: str, metric: str) -> str:
    """'mean / median (min-max)' over the seeds, in %.

    >>> spread({"per_seed": {"0": {"m": {"hter": 0.05}}, "1": {"m": {"hter": 0.08}}, "2": {"m": {"hter": 0.02}}},
    ...         "median": {"m": {"hter": 0.05}}}, "m", "hter")
    '5.00 / 5.00 (2.00-8.00)'
    """
    values = [100 * run[model][metric] for run in document["per_seed"].values()]
    median = 100 * document["median"][model][metric]
    return f"{sum(values) / len(values):.2f} / {median:.2f} ({min(values):.2f}-{max(values):.2f})"


def markdown(runs: dict, target: str) -> str:
    full = runs.get("full")
    lines = ["Command: `.venv/bin/python bench/bench_demo.py`. Machine: " + machine_line() + ".", ""]
    if full:
        rss = "" if full["peak_rss_mib"] is None else f", peak RSS {full['peak_rss_mib']:.0f} MiB"
        lines += [f"Demo (`make demo` minus the install, backbones already converted): "
                  f"{full['minutes']:.1f} min wall{rss}.", ""]
    seeds = next(iter(runs.values()))["results"]["seeds"]
    lines += [f"Held-out domain {target} (trained on the other three; threshold from the source dev set; over "
              f"seeds {seeds}: mean / median (range); %):", "", "| Model | HTER | AUC | minutes |", "|---|---|---|---|"]
    for name, run in runs.items():
        document = run["results"]
        lines.append(f"| {VARIANTS[name][0]} | {spread(document, 'ifas', 'hter')} | {spread(document, 'ifas', 'auc')} "
                     f"| {run['minutes']:.1f} |")
    if full:
        document = full["results"]
        lines.append(f"| binary baseline (same frozen tower, standardised linear head, same steps and seeds) | "
                     f"{spread(document, 'baseline', 'hter')} | {spread(document, 'baseline', 'auc')} | |")
        rates, injection = document["explanation_rates"], document["injection"]
        lines += ["", f"Explanations of the full model (first seed, {rates['n']} held-out answers): agree with the "
                      f"judgment {percent(rates['agrees_with_judgment'])}%, name the attack family in "
                      f"{percent(rates['spoof_names_family'])}% of spoof answers and a live cue in "
                      f"{percent(rates['live_names_live_cue'])}% of live answers.",
                  "", f"Typographic injection (\"{INJECTION_TEXT}\" on {injection['n']} held-out spoof images): "
                      f"{injection['flipped']} decisions flipped ({percent(injection['flip_rate'])}%; target <= 5%), "
                      f"{injection['to_live']} of them to live."]
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench_demo"))
    parser.add_argument("--reuse", action="store_true", help="read variants that already finished under --out")
    parser.add_argument("--full_results", help="demo_results.json of a finished `make demo` to use as the full "
                                               "variant (same config) instead of running it again")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import yaml

    target = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())["target_domain"]
    runs = {}
    for name in args.variants.split(","):
        if name == "full" and args.full_results:
            results = json.loads(Path(args.full_results).read_text())
            runs[name] = {"minutes": results["minutes"], "peak_rss_mib": None, "results": results}
            continue
        runs[name] = run_variant(name, Path(args.out) / name, args.reuse)
        print(f"{name}: {runs[name]['minutes']:.1f} min", flush=True)
    body = markdown(runs, target)
    print(body)
    if not args.no_write:
        write_section(section("Demo (bench/bench_demo.py)", body))
    return body


if __name__ == "__main__":
    main()
