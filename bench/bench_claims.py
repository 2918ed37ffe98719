"""The paper's three claims on the demo recipe, over seeds: L-LM under noisy captions, SCF's filter and C_S against a
noisy general captioner, multi-level GAC against fewer tapped layers, no prefix queries and append mode.

    .venv/bin/python bench/bench_claims.py [--claims noise,scf,gac] [--variants NAME,...] [--seeds 0,1,2]
        [--noise_kind contradict] [--scf_rates 0.25,0.15,0.1] [--out outputs/bench_claims] [--tiny]
        [--set SECTION.KEY=VALUE] [--keep_checkpoints] [--no-write]

Grids (`variants()`): noise = caption noise p in {0, 0.3, 0.6} on the training rows x loss in {plain LM, L-LM alpha
0.5, 0.7, 0.9}; scf = the four arms of `datasets_scripts.scf.simulated_flow` with the simulated captioner (miss,
wrong, contradict rates); gac = tapped layers all / last / last four, no prefix queries, append. Every variant is
the demo's training and held-out evaluation (`ifas.demo.run.stage_train`, `ifas.evaluation.evaluate`, `explain_samples`) without
the binary baseline and the typographic injection, in one process: one SynthFAS build and one vision-feature cache
per tapped-layer setting serve every variant and seed. Variants with the same settings (the recipe appears in the
noise and the gac grid) run once. Each finished seed is saved as `<out>/runs/<variant>/seed_<s>/result.json` and
skipped on a rerun (its checkpoints are deleted unless `--keep_checkpoints`); a variant that fails is logged and
reported, the others go on.

Writes `<out>/claims.md` (one table per claim; also the "## Paper claims (bench/bench_claims.py)" section of
BENCHMARKS.md unless `--no-write`) and `<out>/hter_vs_caption_noise.png`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line, section, write_section  # noqa: E402

from ifas.demo import run as demo  # noqa: E402
from datasets import load_from_disk  # noqa: E402
from datasets_scripts.cue_masks import load_cue_masks  # noqa: E402
from datasets_scripts.scf.report import write_report  # noqa: E402
from datasets_scripts.scf.simulated_captioner import SimulatedCaptioner  # noqa: E402
from datasets_scripts.scf.simulated_flow import SCF_ARMS, simulated_scf  # noqa: E402
from ifas.demo.settings import check_settings  # noqa: E402
from ifas.evaluation import evaluate, explain_samples, read_scores, scored  # noqa: E402
from ifas.train.vision_cache import VisionFeatureCache  # noqa: E402
from modeling_ifas import IFASForConditionalGeneration  # noqa: E402
from processing_ifas import IFASProcessor  # noqa: E402

logger = logging.getLogger("bench_claims")
NOISE_LEVELS = (0.0, 0.3, 0.6)
LOSSES = {"lm": ("plain LM", None), "a0.5": ("L-LM alpha 0.5", 0.5), "a0.7": ("L-LM alpha 0.7", 0.7),
          "a0.9": ("L-LM alpha 0.9", 0.9)}
SCF_TITLES = {"no_captions": "no captions", "all_captions": "every C_G caption (mistakes kept)",
              "filtered": "keyword-filtered C_G captions", "filtered_cs": "filtered + C_S re-captioning"}
GAC_VARIANTS = {
    "gac_all": ("every layer tapped, 8 prefix queries, replace (the recipe)", {}),
    "gac_last": ("last layer only", {"model.gac_layers": [-1]}),
    "gac_last4": ("last four layers", {"model.gac_layers": [-4, -3, -2, -1]}),
    "gac_no_prefix": ("no prefix queries", {"model.gac_num_queries": 0}),
    "gac_append": ("append: patch tokens + GAC tokens (276 per image)", {"model.gac_mode": "append"}),
}
METRICS = (("hter", "held-out HTER"), ("auc", "AUC"), ("named_family", "spoof answers naming the family"),
           ("agreement", "explanation agrees with judgment"))


@dataclass(frozen=True)
class Variant:
    """One cell of a grid: demo config overrides and, for SCF, the arm whose captions replace the templates'."""

    name: str
    claim: str
    title: str
    overrides: dict = field(default_factory=dict)
    scf_arm: str | None = None

    def settings(self) -> str:
        """What determines the result: variants with equal settings share one run."""
        return json.dumps({"overrides": self.overrides, "scf_arm": self.scf_arm}, sort_keys=True)


def variants(noise_kind: str = "contradict") -> list[Variant]:
    """Every grid's variants, noise first (its p=0, alpha 0.7 cell is the recipe that `gac_all` repeats)."""
    grid = [Variant(f"noise{p}_{loss}", "noise", f"{title}, p={p}",
                    {"caption_noise": p, "caption_noise_kind": noise_kind, "training.judgment_weight": weight})
            for p in NOISE_LEVELS for loss, (title, weight) in LOSSES.items()]
    grid += [Variant(f"scf_{arm}", "scf", SCF_TITLES[arm], {}, arm) for arm in SCF_ARMS]
    recipe = {"caption_noise": 0.0, "caption_noise_kind": noise_kind, "training.judgment_weight": 0.7}
    grid += [Variant(name, "gac", title, {**recipe, **overrides}) for name, (title, overrides) in GAC_VARIANTS.items()]
    return grid


def cell(values: list[float | None]) -> str:
    """'median (min-max)' in %, over the seeds that gave a value.

    >>> cell([0.05, 0.02, 0.08])
    '5.00 (2.00-8.00)'
    """
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{100 * demo.median(values):.2f} ({100 * min(values):.2f}-{100 * max(values):.2f})"


def seed_result(config: dict, seed_dir: Path, train, dev, test, cache: VisionFeatureCache, cue_masks,
                keep_checkpoints: bool) -> dict:
    """Train and evaluate one seed (or read its result.json); held-out HTER/AUC and explanation rates."""
    record = seed_dir / "result.json"
    if record.exists():
        return json.loads(record.read_text())
    started = time.time()
    target, evaluation = config["target_domain"], config["evaluation"]
    init, checkpoint, train_accuracy = demo.stage_train(config, seed_dir, train, dev, cache)
    model = IFASForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    cache.attach(model.requires_grad_(False))
    results = evaluate(model, processor, {target: test}, dev, seed_dir / "report", batch_size=evaluation["batch_size"],
                       model_name="ifas-claims", protocol=f"SynthFAS leave-one-domain-out -> {target}")
    model.config.threshold = results["threshold"]
    explained = explain_samples(model, processor, test, scored(read_scores(seed_dir / "report", target)),
                                evaluation["explain_per_attack_type"], max_new_tokens=evaluation["max_new_tokens"],
                                batch_size=evaluation["batch_size"], seed=config["seed"], cue_masks=cue_masks)
    rates = demo.explanation_rates(explained)
    held_out = results["targets"][target]
    result = {"seed": config["seed"], "hter": held_out["hter"], "auc": held_out["auc"],
              "named_family": rates["spoof_names_family"], "agreement": rates["agrees_with_judgment"],
              "live_cue": rates["live_names_live_cue"], "answers": rates["n"],
              "train_judgment_accuracy": train_accuracy, "minutes": (time.time() - started) / 60}
    record.write_text(json.dumps(result, indent=1))
    if not keep_checkpoints:
        for folder in (init, checkpoint):
            shutil.rmtree(folder, ignore_errors=True)
    return result


class ClaimsBench:
    """Runs variants on shared data and vision caches; `run(variant)` returns its per-seed results or its error."""

    def __init__(self, base: dict, out: Path, seeds: list[int], scf_rates: tuple[float, float, float],
                 noise_kind: str = "contradict", keep_checkpoints: bool = False):
        self.base, self.out, self.seeds, self.keep_checkpoints = base, out, seeds, keep_checkpoints
        self.scf_rates = scf_rates
        self.captioned = demo.stage_data(base, out / "data")
        self.raw = load_from_disk(str(out / "data" / "synthfas"))
        self.cue_masks = load_cue_masks(out / "data" / "synthfas")
        self.caches: dict[str, VisionFeatureCache] = {}
        self.by_settings: dict[str, dict] = {}
        self.folders: dict[str, str] = {}
        for variant in variants(noise_kind):
            self.folders.setdefault(variant.settings(), variant.name)

    def config(self, variant: Variant) -> dict:
        config = json.loads(json.dumps(self.base))
        for dotted, value in variant.overrides.items():
            section_name, _, key = dotted.rpartition(".")
            (config.setdefault(section_name, {}) if section_name else config)[key] = value
        return config

    def captions(self, variant: Variant, config: dict, run_dir: Path):
        if variant.scf_arm is None:
            return self.captioned
        captioner = SimulatedCaptioner(*self.scf_rates, seed=config["seed"],
                                       concise=config.get("concise_captions", False))
        captioned, report = simulated_scf(self.raw, variant.scf_arm, captioner)
        write_report(report, run_dir / "scf_report")
        (run_dir / "scf_report" / "errors.json").write_text(json.dumps(report["errors"], indent=1))
        return captioned

    def run(self, variant: Variant) -> dict:
        if variant.settings() in self.by_settings:
            return self.by_settings[variant.settings()]
        run_dir = self.out / "runs" / self.folders[variant.settings()]  # the first variant with these settings
        try:
            config = self.config(variant)
            check_settings(run_dir, {"config": config, "scf_arm": variant.scf_arm,
                                     "scf_rates": self.scf_rates if variant.scf_arm else None})
            train, dev, test = demo.protocol_splits(config, self.captions(variant, config, run_dir))
            model = config["model"]
            cache = self.caches.setdefault(json.dumps([model.get("use_gac", True), model.get("gac_layers")]),
                                           VisionFeatureCache())
            seeds = [seed_result({**config, "seed": seed}, run_dir / f"seed_{seed}", train, dev, test, cache,
                                 self.cue_masks, self.keep_checkpoints) for seed in self.seeds]
            outcome = {"seeds": seeds, "minutes": sum(s["minutes"] for s in seeds)}
        except Exception as error:  # one failed variant must not lose the grid
            logger.error("variant %s failed:\n%s", variant.name, traceback.format_exc())
            outcome = {"error": f"{type(error).__name__}: {error}"}
        self.by_settings[variant.settings()] = outcome
        return outcome


def claim_table(rows: list[tuple[Variant, dict]]) -> list[str]:
    lines = ["| variant | " + " | ".join(title for _, title in METRICS) + " | minutes (all seeds) |",
             "|---|" + "---|" * (len(METRICS) + 1)]
    for variant, outcome in rows:
        if "error" in outcome:
            lines.append(f"| {variant.title} | failed: {outcome['error'][:120]} |" + " |" * len(METRICS))
            continue
        cells = [cell([seed[key] for seed in outcome["seeds"]]) for key, _ in METRICS]
        lines.append(f"| {variant.title} | " + " | ".join(cells) + f" | {outcome['minutes']:.1f} |")
    return lines


def scf_error_lines(out: Path, rates: tuple[float, float, float]) -> list[str]:
    """What the filter did with the simulated C_G's mistakes (from the `filtered` arm's report)."""
    path = out / "runs" / "scf_filtered" / "scf_report" / "errors.json"
    if not path.exists():
        return []
    errors = json.loads(path.read_text())
    lines = ["", f"Simulated C_G (miss / wrong / contradict rates {rates[0]} / {rates[1]} / {rates[2]}, every split): "
                 "rows per mistake and how many the keyword filter rejected:", "",
             "| C_G caption | rows | rejected | filter reasons |", "|---|---|---|---|"]
    for error, stats in errors.items():
        reasons = ", ".join(f"{reason}: {n}" for reason, n in stats["reasons"].items())
        lines.append(f"| {error} | {stats['rows']} | {stats['rejected']} | {reasons} |")
    return lines


def markdown(outcomes: list[tuple[Variant, dict]], args, command: str, target: str) -> str:
    claims = {"noise": f"L-LM under caption noise (kind `{args.noise_kind}`, training rows only)",
              "scf": "SCF against a simulated noisy general captioner",
              "gac": "GAC: multi-level global tokens, prefix queries, replace vs append"}
    lines = [f"Command: `{command}`. Machine: {machine_line()}. Demo recipe, seeds {args.seeds}, held-out domain "
             f"{target} (threshold from the source dev set); median (min-max) over the seeds, in %. Explanation rates "
             "are over each seed's generated held-out answers (`evaluation.explain_per_attack_type` per attack type)."]
    for claim, title in claims.items():
        rows = [(v, o) for v, o in outcomes if v.claim == claim]
        if rows:
            lines += ["", f"### {title}", ""] + claim_table(rows)
            if claim == "scf":
                lines += scf_error_lines(args.out, args.scf_rates)
    return "\n".join(lines)


def plot_noise(outcomes: list[tuple[Variant, dict]], path: Path) -> Path | None:
    """Held-out HTER (median, min-max bars) against caption noise p, one line per loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    drawn = False
    for loss, (title, _) in LOSSES.items():
        points = [(v.overrides["caption_noise"], [s["hter"] * 100 for s in o["seeds"]])
                  for v, o in outcomes if v.claim == "noise" and v.name.endswith(f"_{loss}") and "seeds" in o]
        if not points:
            continue
        ps = [p for p, _ in points]
        middles = [demo.median(h) for _, h in points]
        errors = [[m - min(h) for m, (_, h) in zip(middles, points)], [max(h) - m for m, (_, h) in zip(middles, points)]]
        axis.errorbar(ps, middles, yerr=errors, marker="o", capsize=3, label=title)
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axis.set_xticks(NOISE_LEVELS)
    axis.set_xlabel("caption noise p (fraction of training rows)")
    axis.set_ylabel("held-out HTER (%)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", default="noise,scf,gac")
    parser.add_argument("--variants", help="only these variant names (see `variants()`)")
    parser.add_argument("--seeds", default="0,1,2", type=lambda text: [int(s) for s in text.split(",")])
    parser.add_argument("--noise_kind", default="contradict", choices=("contradict", "wrong_family", "generic"))
    parser.add_argument("--scf_rates", default="0.25,0.15,0.1", metavar="MISS,WRONG,CONTRADICT",
                        type=lambda text: tuple(float(r) for r in text.split(",")))
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench_claims"), type=Path)
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--tiny", action="store_true", help="the demo's tiny model and data: a smoke run")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE")
    parser.add_argument("--keep_checkpoints", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    demo.quiet_libraries()
    overrides = dict(demo.TINY_OVERRIDES) if args.tiny else {}
    overrides.update(dict(item.split("=", 1) for item in args.set))
    base = demo.load_config(args.config, overrides)
    claims = args.claims.split(",")
    chosen = [v for v in variants(args.noise_kind) if v.claim in claims
              and (args.variants is None or v.name in args.variants.split(","))]
    if not chosen:
        raise SystemExit(f"error: no variant matches --claims {args.claims} --variants {args.variants}")
    bench = ClaimsBench(base, args.out, args.seeds, args.scf_rates, args.noise_kind, args.keep_checkpoints)
    outcomes = []
    for variant in chosen:
        demo.banner(f"{variant.name}: {variant.title}")
        outcome = bench.run(variant)
        outcomes.append((variant, outcome))
        status = outcome.get("error") or f"{outcome['minutes']:.1f} min"
        print(f"{variant.name}: {status}", flush=True)
    command = ".venv/bin/python bench/bench_claims.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = markdown(outcomes, args, command.strip(), base["target_domain"])
    plot = plot_noise(outcomes, args.out / "hter_vs_caption_noise.png")
    if plot:
        body += f"\n\nPlot: `{plot}`."
    (args.out / "claims.md").write_text(body + "\n")
    print(body)
    if not args.no_write:
        write_section(section("Paper claims (bench/bench_claims.py)", body))
    return body


if __name__ == "__main__":
    main()
