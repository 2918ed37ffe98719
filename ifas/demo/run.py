"""`make demo`: the whole I-FAS loop offline — SynthFAS data, SCF captions, L-LM training, cross-domain evaluation
against a plain binary classifier, and interpretable answers on held-out-domain images.

    ifas demo [--config configs/demo.yaml] [--out outputs/demo] [--tiny] [--set training.max_steps=20]
        [--caption_noise 0.3 --caption_noise_kind contradict|wrong_family|generic]

`--tiny` swaps the pretrained backbones for a tiny random model and shrinks the data: the smoke test of `make test`.
Everything lands under `--out`: the dataset, the captions and their report, the trained checkpoint (loadable with
AutoModel and pipeline, threshold calibrated on the source-domain dev set), `report/` with tables, plots and
explanations, and `summary.md`.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shutil
import time
from collections import Counter
from pathlib import Path

import torch
import yaml
from datasets import DatasetDict, load_from_disk

from datasets_scripts.cue_masks import load_cue_masks
from datasets_scripts.scf.flow import run_scf
from datasets_scripts.scf.noisy_captions import NOISE_KINDS, add_caption_noise
from datasets_scripts.scf.report import write_report
from datasets_scripts.synthfas import build_synthfas, leave_one_domain_out
from ifas.demo.baseline import BinaryBaseline
from ifas.demo.settings import check_settings
from ifas.evaluation import calibrate_checkpoint, evaluate, explain_samples, read_scores, scored
from ifas.fas_metrics import compute_fas_metrics
from ifas.reporting.heatmaps import localisation_markdown
from ifas.reporting.typographic import INJECTION_TEXT, injection_flips
from ifas.model_builders import from_backbones, save_checkpoint, tiny_ifas
from ifas.train.vision_cache import VisionFeatureCache
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor

logger = logging.getLogger(__name__)
TINY_OVERRIDES = {
    "synthfas.per_domain": 20, "synthfas.size": 64, "synthfas.splits": {"train": 0.4, "dev": 0.3, "test": 0.3},
    "model.backbones": "tiny",
    "training.max_steps": 4, "training.per_device_train_batch_size": 4, "evaluation.max_new_tokens": 4,
    "evaluation.explain_per_attack_type": 1, "seeds": [0, 1], "training.calibrate_connector_images": 8,
}


def quiet_libraries() -> None:
    """Keep the demo's output to its own stages: no per-file progress bars or deprecation notes from libraries."""
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def load_config(path: str, overrides: dict) -> dict:
    """The YAML config with `key=value` / `section.key=value` overrides applied (values parsed as YAML)."""
    config = yaml.safe_load(Path(path).read_text())
    for dotted, value in overrides.items():
        value = yaml.safe_load(value) if isinstance(value, str) else value
        if "." in dotted:
            section, key = dotted.split(".", 1)
            config.setdefault(section, {})[key] = value
        else:
            config[dotted] = value
    return config


STARTED = time.time()


def banner(text: str) -> None:
    """A stage heading, with the minutes since the demo started."""
    print(f"\n=== [{(time.time() - STARTED) / 60:4.1f} min] {text} ===", flush=True)


def dataset_statistics(dataset: DatasetDict) -> str:
    """Markdown counts per domain, split and attack type."""
    counts = Counter()
    for split, ds in dataset.items():
        for domain, attack in zip(ds["dataset"], ds["attack_type"]):
            counts[(domain, split, attack)] += 1
    attacks = sorted({a for _, _, a in counts})
    lines = ["| domain | split | " + " | ".join(attacks) + " |", "|---|---|" + "---|" * len(attacks)]
    for domain, split in sorted({(d, s) for d, s, _ in counts}):
        lines.append(f"| {domain} | {split} | " + " | ".join(str(counts[(domain, split, a)]) for a in attacks) + " |")
    return "\n".join(lines)


def stage_data(config: dict, out: Path) -> DatasetDict:
    banner("1/6 SynthFAS: live faces and physically simulated print, replay and paper-mask attacks")
    data = build_synthfas(out / "synthfas", progress=True, seed=config["seed"], **config["synthfas"])
    print(dataset_statistics(data))
    if config["captioner"] == "none":
        banner("2/6 SCF skipped (captioner: none): the answers are the judgment word alone")
        return data
    banner(f"2/6 SCF captions ({config['captioner']} captioner)")
    captioned_path = out / "synthfas_scf"
    if (captioned_path / "dataset_dict.json").exists():
        return load_from_disk(str(captioned_path))
    captioned, report = run_scf(data, config["captioner"], out / "scf_work", seed=config["seed"],
                                concise_templates=config.get("concise_captions", False))
    write_report(report, out / "scf_report")
    captioned.save_to_disk(str(captioned_path))
    example = captioned["train"].filter(lambda label: label == 1, input_columns="label")[0]
    print(f"example spoof caption ({example['attack_detail']}): {example['caption']}")
    return captioned


def initial_checkpoint(config: dict, out: Path) -> str:
    """The untrained I-FAS (pretrained backbones, connector drawn from `config["seed"]`) as a checkpoint folder."""
    path = out / "initial_checkpoint"
    if (path / "model.safetensors").exists():
        return str(path)
    settings = config["model"]
    gac = {"use_gac": settings.get("use_gac", True), "gac_mode": settings.get("gac_mode", "append"),
           "gac_layers": settings.get("gac_layers"), "gac_num_queries": settings["gac_num_queries"]}
    if settings["backbones"] == "tiny":  # the same random "pretrained" backbones for every seed, like the registry's
        model, processor = tiny_ifas("dinov2", seed=0, **gac)
        if model.model.gac is not None:
            torch.manual_seed(config["seed"])
            for module in model.model.gac.modules():
                if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                    torch.nn.init.normal_(module.weight, std=0.02)
    else:
        from ifas.demo.assets import dinov2_small_path, smollm2_path

        torch.manual_seed(config["seed"])  # the connector's random init: one seed, one result
        model, processor = from_backbones(dinov2_small_path(), smollm2_path(), image_size=settings["image_size"],
                                          **gac)
    return save_checkpoint(model, processor, str(path))


def protocol_splits(config: dict, captioned: DatasetDict):
    """(train, dev, test) of the leave-one-domain-out protocol; with `caption_noise` p > 0, a seeded fraction p of
    the training rows get `caption_noise_kind` captions (`datasets_scripts.scf.noisy_captions`), never dev or test."""
    train, dev, test = leave_one_domain_out(captioned, config["target_domain"])
    p = config.get("caption_noise", 0.0)
    if p:
        kind = config.get("caption_noise_kind", "contradict")
        train = add_caption_noise({"train": train}, p, kind, seed=config["seed"],
                                  concise=config.get("concise_captions", False))["train"]
        print(f"caption noise: {round(p * len(train))} of {len(train)} training captions replaced ({kind})")
    return train, dev, test


def train_arguments(config: dict, init: str, data_path: str, output_dir: str) -> list[str]:
    args = ["--model_name_or_path", init, "--dataset_path", data_path, "--output_dir", output_dir,
            "--seed", str(config["seed"]), "--report_to", "none", "--save_strategy", "no"]
    for key, value in config["training"].items():
        args += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return args


def stage_train(config: dict, out: Path, train, dev, vision_cache) -> tuple[str, str, float]:
    """Train one seed with train_sft (its frozen tower read through the shared `vision_cache`); return the initial
    and trained checkpoints and the training judgment accuracy over the last 10% of steps."""
    import train_sft

    protocol_path = out.parent / "protocol"
    if not (protocol_path / "dataset_dict.json").exists():
        DatasetDict({"train": train, "dev": dev}).save_to_disk(str(protocol_path))
    init = initial_checkpoint(config, out)
    checkpoint = out / "checkpoint"
    accuracy_path = out / "train_judgment_accuracy.json"
    if not (checkpoint / "model.safetensors").exists():
        parser = train_sft.TrlParser((train_sft.IFASScriptArguments, train_sft.IFASSFTConfig, train_sft.ModelConfig))
        arguments = parser.parse_args_and_config(args=train_arguments(config, init, str(protocol_path), str(checkpoint)))
        trainer = train_sft.build_trainer(*arguments, vision_cache=vision_cache)
        trainer.train()
        train_sft.save_final(trainer, arguments[0])
        accuracy_path.write_text(json.dumps(late_judgment_accuracy(trainer.state.log_history)))
    return init, str(checkpoint), json.loads(accuracy_path.read_text())


def late_judgment_accuracy(log_history: list[dict], share: float = 0.1) -> float:
    """Mean logged training judgment accuracy over the last `share` of the logged steps.

    >>> late_judgment_accuracy([{"judgment_accuracy": a} for a in (0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1)])
    1.0
    """
    values = [entry["judgment_accuracy"] for entry in log_history if "judgment_accuracy" in entry]
    if not values:
        return float("nan")
    tail = values[-max(1, round(len(values) * share)):]
    return sum(tail) / len(tail)


def stage_baseline(config: dict, init: str, train, dev, targets: dict, vision_cache) -> dict:
    model = IFASForConditionalGeneration.from_pretrained(init)
    processor = IFASProcessor.from_pretrained(init, trust_remote_code=True)
    vision_cache.attach(model.requires_grad_(False))
    torch.manual_seed(config["seed"])  # the head's init must not depend on what ran before it
    baseline = BinaryBaseline(model, processor)
    training = config["training"]
    losses = baseline.fit(train, steps=training["max_steps"], batch_size=training["per_device_train_batch_size"],
                          seed=config["seed"])
    print(f"baseline BCE: first {losses[0]:.3f}, last {losses[-1]:.3f}")
    dev_scores = baseline.score(dev["image"]).tolist()
    results = {}
    for name, dataset in targets.items():
        results[name] = compute_fas_metrics(
            baseline.score(dataset["image"]).tolist(), dataset["label"], attack_types=dataset["attack_type"],
            dev_predictions=dev_scores, dev_references=dev["label"],
        )
    return results


def percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def explanation_rates(explained: dict) -> dict:
    """From `explain_samples` output: agreement with the judgment (all answers), the attack family named (spoof
    answers), a live cue named (live answers)."""
    samples = explained["samples"]
    spoof = [s for s in samples if s["label"] != 0]
    live = [s for s in samples if s["label"] == 0]

    def rate(rows, key):
        return sum(bool(r[key]) for r in rows) / len(rows) if rows else None

    return {"n": len(samples), "agrees_with_judgment": rate(samples, "explanation_consistent"),
            "spoof_names_family": rate(spoof, "names_family"), "live_names_live_cue": rate(live, "names_family"),
            "judgment_correct": rate(samples, "judgment_correct")}


def shown_answers(explained: dict, per_type: int = 2) -> list[str]:
    """Markdown lines for `per_type` generated answers of each attack type."""
    lines, counts = [], Counter()
    for sample in explained["samples"]:
        if counts[sample["attack_type"]] < per_type:
            counts[sample["attack_type"]] += 1
            truth = sample["attack_detail"] or sample["attack_type"]
            lines.append(f"- truth: {truth} | judgment: {sample['judgment']} | P(live) = {sample['p_live']:.3f} "
                         f"(margin {sample['margin']:+.1f}) | "
                         f"{sample['explanation']}")
    return lines


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run_seed(config: dict, out: Path, train, dev, test, targets: dict, vision_cache, report: bool) -> dict:
    """Train, baseline and evaluate one seed; with `report`, also explanations and typographic injection."""
    seed = config["seed"]
    banner(f"seed {seed}: I-FAS training with the lopsided LM loss (train_sft.py)")
    init, checkpoint, train_accuracy = stage_train(config, out, train, dev, vision_cache)
    banner(f"seed {seed}: binary baseline on the same frozen tower, steps, batch and seed")
    baseline = stage_baseline(config, init, train, dev, targets, vision_cache)
    banner(f"seed {seed}: cross-domain evaluation (threshold from the source-domain dev set)")
    model = IFASForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    vision_cache.attach(model.requires_grad_(False))
    evaluation = config["evaluation"]
    results = evaluate(model, processor, targets, dev, out / "report", batch_size=evaluation["batch_size"],
                       model_name="ifas-demo", protocol=f"SynthFAS leave-one-domain-out -> {config['target_domain']}")
    calibrate_checkpoint(checkpoint, results["threshold"])
    model.config.threshold = results["threshold"]
    target = results["targets"][config["target_domain"]]
    records = scored(read_scores(out / "report", config["target_domain"]))
    scores, labels = [r["score"] for r in records], [r["label"] for r in records]
    run = {"checkpoint": checkpoint, "train_judgment_accuracy": train_accuracy,
           "ifas": {"auc": target["auc"], "hter": target["hter"]},
           "baseline": {"auc": baseline[config["target_domain"]]["auc"],
                        "hter": baseline[config["target_domain"]]["hter"]},
           "median_p_live": {"live": median([s for s, y in zip(scores, labels) if y == 0]),
                             "spoof": median([s for s, y in zip(scores, labels) if y != 0])},
           "results": results, "baseline_targets": baseline}
    if report:
        banner(f"seed {seed}: answers and typographic injection on held-out-domain ({config['target_domain']}) images")
        run["explanations"] = explain_samples(model, processor, test, records, evaluation["explain_per_attack_type"],
                                              max_new_tokens=evaluation["max_new_tokens"],
                                              batch_size=evaluation["batch_size"], seed=seed,
                                              cue_masks=load_cue_masks(out.parent / "synthfas"))
        run["explanation_rates"] = explanation_rates(run["explanations"])
        spoofs = [row["image"] for row in test if row["label"] != 0]
        run["injection"] = injection_flips(model, processor, spoofs, batch_size=evaluation["batch_size"], crop_faces=False)
    return run


def seed_table(runs: list[dict], seeds: list[int]) -> str:
    lines = ["| seed | I-FAS HTER | I-FAS AUC | baseline HTER | baseline AUC | median P(live) live / spoof | "
             "train judgment acc. (last 10%) |", "|---|---|---|---|---|---|---|"]
    for seed, run in zip(seeds, runs):
        lines.append(f"| {seed} | {percent(run['ifas']['hter'])} | {percent(run['ifas']['auc'])} | "
                     f"{percent(run['baseline']['hter'])} | {percent(run['baseline']['auc'])} | "
                     f"{run['median_p_live']['live']:.3f} / {run['median_p_live']['spoof']:.3f} | "
                     f"{run['train_judgment_accuracy']:.3f} |")
    cells = [median([r[m][k] for r in runs]) for m in ("ifas", "baseline") for k in ("hter", "auc")]
    lines.append(f"| median | {percent(cells[0])} | {percent(cells[1])} | {percent(cells[2])} | {percent(cells[3])} "
                 "| | |")
    return "\n".join(lines) + "\n\nHTER at the threshold chosen on the source-domain dev set; values in %."


def run(config: dict, out: Path) -> dict:
    started = time.time()
    # the data, captions and checkpoints in `out` are reused: only for these settings (more seeds may be added)
    check_settings(out, {key: value for key, value in config.items() if key not in ("seeds", "evaluation")})
    captioned = stage_data(config, out)
    target = config["target_domain"]
    train, dev, test = protocol_splits(config, captioned)
    sources = sorted(set(captioned["test"]["dataset"]) - {target})
    targets = {target: test}  # the held-out domain, every seed; `ifas evaluate` scores any other test set
    seeds = config.get("seeds", [config["seed"]])
    vision_cache = VisionFeatureCache()  # one frozen tower: every seed, evaluation and the baseline reuse its features
    runs = [run_seed({**config, "seed": seed}, out / f"seed_{seed}", train, dev, test, targets, vision_cache,
                     report=index == 0)
            for index, seed in enumerate(seeds)]
    reported = runs[0]
    checkpoint = out / "checkpoint"
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    shutil.copytree(reported["checkpoint"], checkpoint)
    if (out / "report").exists():
        shutil.rmtree(out / "report")
    shutil.copytree(out / f"seed_{seeds[0]}" / "report", out / "report")
    table = seed_table(runs, seeds)
    print(table)
    answers = shown_answers(reported["explanations"])
    print("\n".join(answers))
    minutes = (time.time() - started) / 60
    rates, injection = reported["explanation_rates"], reported["injection"]
    summary = "\n\n".join([
        "# I-FAS demo", f"Held-out domain: {target}; sources: {', '.join(sources)}; seeds {seeds}; wall time "
        f"{minutes:.1f} min (after the install).",
        "## Data\n\n" + dataset_statistics(captioned),
        "## Held-out-domain results per seed\n\n" + table,
        f"## Explanations (seed {seeds[0]}, {rates['n']} held-out answers)\n\n"
        f"Agree with the judgment: {percent(rates['agrees_with_judgment'])}%; name the attack family: "
        f"{percent(rates['spoof_names_family'])}% of spoof answers; name a live cue: "
        f"{percent(rates['live_names_live_cue'])}% of live answers.\n\n" + "\n".join(answers),
        "\n".join(localisation_markdown({target: reported["explanations"]["localisation"]})),
        f"## Typographic injection\n\n\"{INJECTION_TEXT}\" written on {injection['n']} held-out spoof images: "
        f"{injection['flipped']} decisions flipped ({percent(injection['flip_rate'])}%), {injection['to_live']} to live.",
        f"Checkpoint (seed {seeds[0]}): `{checkpoint}` (AutoModel / pipeline with trust_remote_code=True). "
        f"Report: `{out / 'report'}`.",
    ])
    (out / "summary.md").write_text(summary + "\n")
    document = {
        "target_domain": target, "seeds": seeds, "minutes": minutes,
        "per_seed": {str(seed): {key: run[key] for key in ("ifas", "baseline", "median_p_live",
                                                          "train_judgment_accuracy")}
                     for seed, run in zip(seeds, runs)},
        "median": {model: {metric: median([run[model][metric] for run in runs]) for metric in ("auc", "hter")}
                   for model in ("ifas", "baseline")},
        "explanation_rates": rates, "injection": injection,
        "answers": reported["explanations"]["samples"], "ifas": reported["results"],
        "baseline": reported["baseline_targets"],
    }
    (out / "demo_results.json").write_text(json.dumps(document, indent=2, default=str))
    print(f"\nDone in {minutes:.1f} min. Summary: {out / 'summary.md'}; checkpoint: {checkpoint}")
    return {"results": reported["results"], "baseline": reported["baseline_targets"],
            "answers": reported["explanations"]["samples"], "checkpoint": str(checkpoint), "document": document}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="ifas demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"))
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--tiny", action="store_true", help="tiny random model and data: a fast smoke run")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE")
    parser.add_argument("--caption_noise", type=float, metavar="P",
                        help="replace the captions of a seeded fraction P of the training rows (not dev/test)")
    parser.add_argument("--caption_noise_kind", choices=NOISE_KINDS, help="the noisy captions (default contradict)")
    args = parser.parse_args(argv)
    overrides = copy.deepcopy(TINY_OVERRIDES) if args.tiny else {}
    overrides.update({key: value for key in ("caption_noise", "caption_noise_kind")
                      if (value := getattr(args, key)) is not None})
    overrides.update(dict(item.split("=", 1) for item in args.set))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    return run(load_config(args.config, overrides), Path(args.out))

