"""`ifas adapt` on a SynthFAS "new camera": how many captures a user needs, against a linear baseline.

    .venv/bin/python bench/bench_adapt.py [--checkpoint outputs/demo/checkpoint] [--sizes 5,10,20] [--seeds 0,1,2]
        [--out outputs/bench_adapt] [--no-write]

The new camera is `synth_webcam` (`datasets_scripts/synth/domains.py`: a grey, low-light, noisy webcam with printers
and screens no demo domain has), one capture per video, never seen by `make demo`. For each size n and seed, n live
+ n spoof captures are drawn (spoofs spread over print, replay and paper mask) and written as files, like a user's;
`ifas.train.adapt.adapt` adapts the demo checkpoint on them, and every other capture of the camera is the check part.
The baseline is a logistic regression on the frozen tower's per-layer global tokens (what the GAC reads), fitted on
the same captures, its threshold from them too. Reports median and range over seeds; writes the "Adaptation" section
of BENCHMARKS.md. Each finished run is kept under `--out` and reused (an interrupted benchmark resumes).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, write_section  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from datasets_scripts.synthfas import build_synthfas  # noqa: E402
from ifas.fas_metrics import choose_threshold, compute_fas_metrics  # noqa: E402
from ifas.train.adapt import adapt  # noqa: E402
from ifas.train.vision_cache import VisionFeatureCache  # noqa: E402
from modeling_ifas import IFASForConditionalGeneration  # noqa: E402
from processing_ifas import IFASProcessor  # noqa: E402

FAMILY_OF_ATTACK = {"print": "print", "replay": "replay", "mask": "paper_mask"}  # SynthFAS masks are paper cut-outs


def new_camera(out: Path, per_domain: int):
    corpus = build_synthfas(out / "synth_webcam", domains=("synth_webcam",), per_domain=per_domain,
                            frames_per_video=1, splits={"test": 1.0})
    return corpus["test"]


def draw(rows, n: int, seed: int) -> list[int]:
    """n live and n spoof row indices; spoofs dealt round-robin over the attack types."""
    rng = random.Random(seed)
    live = [i for i, label in enumerate(rows["label"]) if label == 0]
    by_attack = {}
    for i, (label, attack) in enumerate(zip(rows["label"], rows["attack_type"])):
        if label == 1:
            by_attack.setdefault(attack, []).append(i)
    for indices in by_attack.values():
        rng.shuffle(indices)
    spoof, attacks = [], sorted(by_attack)
    while len(spoof) < n:
        attack = attacks[len(spoof) % len(attacks)]
        spoof.append(by_attack[attack][len([i for i in spoof if rows[i]["attack_type"] == attack])])
    return rng.sample(live, n) + spoof


def write_files(rows, indices, folder: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Write the rows' images as JPEG files, live/ and one folder per family, as a user would have them."""
    live, spoof = folder / "live", {}
    for i in indices:
        row = rows[i]
        family = "live" if row["label"] == 0 else FAMILY_OF_ATTACK[row["attack_type"]]
        target = folder / family
        target.mkdir(parents=True, exist_ok=True)
        row["image"].save(target / f"{row['video_id']}.jpg", quality=95)
        if family != "live":
            spoof[family] = [str(target)]
    return [str(live)], spoof


def baseline(model, processor, rows, train: list[int], check: list[int]) -> dict:
    """Logistic regression on the tower's per-layer global tokens, threshold from its training captures."""
    def features(indices):
        pixels = processor.prepare_inputs([rows[i]["image"] for i in indices], crop_faces=False)["pixel_values"]
        with torch.no_grad():
            global_tokens, _ = model.model.encode_images(pixels)
        return global_tokens.flatten(1).numpy()

    labels = np.asarray(rows["label"])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    classifier.fit(features(train), labels[train])
    live_column = list(classifier.classes_).index(0)
    train_scores = classifier.predict_proba(features(train))[:, live_column]
    check_scores = classifier.predict_proba(features(check))[:, live_column]
    threshold = choose_threshold(train_scores.tolist(), labels[train].tolist())
    metrics = compute_fas_metrics(check_scores.tolist(), labels[check].tolist(), dev_threshold=threshold)
    return {"auc": metrics["auc"], "hter": metrics["hter"]}


def run(checkpoint: str, rows, n: int, seed: int, out: Path, cache: VisionFeatureCache, model, processor,
        **options) -> dict:
    record = out / "bench_run.json"
    if record.exists():
        return json.loads(record.read_text())
    chosen = draw(rows, n, seed)
    check = [i for i in range(len(rows)) if i not in set(chosen)]
    live, spoof = write_files(rows, chosen, out / "captures")
    check_live, check_spoof = write_files(rows, check, out / "check")
    started = time.time()
    report = adapt(checkpoint, live, spoof, out / "adapted", check_live=check_live, check_spoof=check_spoof,
                   seed=seed, min_images_per_class=min(8, n), crop_faces=False, vision_cache=cache, **options)
    result = {"n": n, "seed": seed, "minutes": (time.time() - started) / 60, "steps": report["training"]["steps"],
              "before": {k: report["before"][k] for k in ("auc", "hter")},
              "after": {k: report["after"][k] for k in ("auc", "hter")},
              "baseline": baseline(model, processor, rows, chosen, check), "n_check": len(check),
              "answers": report["answers"]}
    record.write_text(json.dumps(result, indent=1))
    return result


def median_range(values) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def markdown(results: list[dict], whole_before: dict, command: str, per_domain: int, *, augment: int,
             warm_start_steps: int, max_steps: int) -> str:
    lines = [
        f"`{command}` on {machine_line()}. The new camera: SynthFAS `synth_webcam` ({per_domain} captures, one per "
        "video), a grey low-light noisy webcam with two printers and two screens no demo domain has.",
        "",
        f"Demo checkpoint on every capture of the new camera, before adaptation: AUC {100 * whole_before['auc']:.2f}, "
        f"HTER {100 * whole_before['hter']:.2f} % (at its calibrated threshold).",
        "",
        f"Per size: `ifas adapt` on n live + n spoof captures and {augment} variations of each "
        f"(a {warm_start_steps}-step connector warm start on them, then L-LM with LoRA r 8, at most {max_steps} steps of batch 4), checked "
        "on all other captures of the camera; the baseline is a logistic regression on the frozen tower's per-layer "
        "global tokens fitted on the same captures. Median (range) over seeds, in %; minutes per adaptation run.",
        "",
        "| captures (live + spoof) | seeds | AUC before | AUC after | HTER after | baseline AUC | baseline HTER | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({r["n"] for r in results}):
        runs = [r for r in results if r["n"] == n]
        lines.append(
            f"| {n} + {n} | {len(runs)} | {median_range([100 * r['before']['auc'] for r in runs])} | "
            f"{median_range([100 * r['after']['auc'] for r in runs])} | "
            f"{median_range([100 * r['after']['hter'] for r in runs])} | "
            f"{median_range([100 * r['baseline']['auc'] for r in runs])} | "
            f"{median_range([100 * r['baseline']['hter'] for r in runs])} | "
            f"{median_range([r['minutes'] for r in runs])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "outputs/demo/checkpoint"))
    parser.add_argument("--sizes", default="5,10,20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--per_domain", type=int, default=240)
    parser.add_argument("--out", default=str(ROOT / "outputs/bench_adapt"))
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--max_minutes", type=float, default=10.0, help="each adaptation run's time budget")
    parser.add_argument("--warm_start_steps", type=int, default=600)
    parser.add_argument("--augment", type=int, default=16, help="variations of each capture (ifas adapt --augment)")
    parser.add_argument("--max_steps", type=int, default=60, help="each adaptation run's L-LM step limit")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    out = Path(args.out)
    rows = new_camera(out, args.per_domain)
    model = IFASForConditionalGeneration.from_pretrained(args.checkpoint).eval().requires_grad_(False)
    processor = IFASProcessor.from_pretrained(args.checkpoint, trust_remote_code=True)
    cache = VisionFeatureCache()
    cache.attach(model)
    scores = model.score(processor, list(rows["image"]), crop_faces=False).tolist()
    whole = compute_fas_metrics(scores, rows["label"], dev_threshold=model.decision_threshold())
    print(f"before adaptation, all {len(rows)} captures: AUC {whole['auc']:.4f}, HTER {whole['hter']:.4f}")
    results = []
    for n in [int(v) for v in args.sizes.split(",")]:
        for seed in [int(v) for v in args.seeds.split(",")]:
            result = run(args.checkpoint, rows, n, seed, out / f"n{n}_seed{seed}", cache, model, processor,
                         learning_rate=args.learning_rate, warm_start_steps=args.warm_start_steps,
                         max_minutes=args.max_minutes, max_steps=args.max_steps,
                         augment=args.augment)
            print(json.dumps({k: result[k] for k in ("n", "seed", "minutes", "before", "after", "baseline")}))
            results.append(result)
    command = "bench/bench_adapt.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = markdown(results, whole, command.strip(), args.per_domain, augment=args.augment,
                    warm_start_steps=args.warm_start_steps, max_steps=args.max_steps)
    print(body)
    if args.write:
        write_section(section("Adaptation to a new camera (`ifas adapt`)", body))
    return results


if __name__ == "__main__":
    main()
