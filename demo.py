"""`make demo`: the whole I-FAS loop offline — SynthFAS data, SCF captions, L-LM training, cross-domain evaluation
against a plain binary classifier, and interpretable answers on held-out-domain images.

    python demo.py [--config configs/demo.yaml] [--out outputs/demo] [--tiny] [--set training.max_steps=20]

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
import time
from collections import Counter
from pathlib import Path

import torch
import yaml
from datasets import DatasetDict, load_from_disk

from datasets_scripts.scf.flow import run_scf
from datasets_scripts.scf.report import write_report
from datasets_scripts.synthfas import build_synthfas, leave_one_domain_out
from demo_baseline import BinaryBaseline
from evaluate_fas import calibrate_checkpoint, evaluate
from fas_metrics import compute_fas_metrics
from ifas_build import from_backbones, save_checkpoint, tiny_ifas
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor

logger = logging.getLogger("demo")
TINY_OVERRIDES = {
    "synthfas.per_domain": 20, "synthfas.size": 64, "synthfas.splits": {"train": 0.4, "dev": 0.3, "test": 0.3},
    "model.backbones": "tiny",
    "training.max_steps": 4, "training.per_device_train_batch_size": 4, "evaluation.max_new_tokens": 4,
    "evaluation.explain_per_attack_type": 1,
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


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


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
    captioned, report = run_scf(data, config["captioner"], out / "scf_work", seed=config["seed"])
    write_report(report, out / "scf_report")
    captioned.save_to_disk(str(captioned_path))
    example = captioned["train"].filter(lambda label: label == 1, input_columns="label")[0]
    print(f"example spoof caption ({example['attack_detail']}): {example['caption']}")
    return captioned


def initial_checkpoint(config: dict, out: Path) -> str:
    """The untrained I-FAS (pretrained backbones, random connector) as a checkpoint folder for train_sft."""
    path = out / "initial_checkpoint"
    if (path / "model.safetensors").exists():
        return str(path)
    settings = config["model"]
    gac = {"use_gac": settings.get("use_gac", True), "gac_mode": settings.get("gac_mode", "append")}
    if settings["backbones"] == "tiny":
        model, processor = tiny_ifas("dinov2", seed=config["seed"], **gac)
    else:
        from demo_assets import dinov2_small_path, smollm2_path

        torch.manual_seed(config["seed"])  # the connector's random init: one seed, one result
        model, processor = from_backbones(dinov2_small_path(), smollm2_path(), image_size=settings["image_size"],
                                          gac_num_queries=settings["gac_num_queries"], **gac)
    return save_checkpoint(model, processor, str(path))


def train_arguments(config: dict, init: str, data_path: str, output_dir: str) -> list[str]:
    args = ["--model_name_or_path", init, "--dataset_path", data_path, "--output_dir", output_dir,
            "--seed", str(config["seed"]), "--report_to", "none", "--save_strategy", "no"]
    for key, value in config["training"].items():
        args += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return args


def stage_train(config: dict, out: Path, train, dev) -> tuple[str, str]:
    banner("3/6 I-FAS training with the lopsided LM loss (train_sft.py)")
    protocol_path = out / "protocol"
    DatasetDict({"train": train, "dev": dev}).save_to_disk(str(protocol_path))
    init = initial_checkpoint(config, out)
    checkpoint = out / "checkpoint"
    if not (checkpoint / "model.safetensors").exists():
        import train_sft

        train_sft.main(train_arguments(config, init, str(protocol_path), str(checkpoint)))
    return init, str(checkpoint)


def stage_baseline(config: dict, init: str, train, dev, targets: dict) -> dict:
    banner("4/6 Baseline: the same frozen vision tower + a linear live/spoof head, same steps and batch")
    model = IFASForConditionalGeneration.from_pretrained(init)
    processor = IFASProcessor.from_pretrained(init, trust_remote_code=True)
    torch.manual_seed(config["seed"])  # the head's init must not depend on what ran before it
    baseline = BinaryBaseline(model.model.vision_tower, processor.image_processor)
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


def comparison_table(ifas: dict, baseline: dict, target: str) -> str:
    lines = ["| test set | I-FAS HTER | I-FAS AUC | baseline HTER | baseline AUC |", "|---|---|---|---|---|"]
    for name in ifas["targets"]:
        i, b = ifas["targets"][name], baseline[name]
        role = "held-out domain" if name == target else "source domain, test split"
        lines.append(f"| {name} ({role}) | {percent(i['hter'])} | {percent(i['auc'])} | {percent(b['hter'])} | "
                     f"{percent(b['auc'])} |")
    return "\n".join(lines) + "\n\nHTER at the threshold chosen on the source-domain dev set; values in %."


def pick_answers(test, seed: int) -> list[int]:
    """One held-out-domain test image per attack type (live, print, replay, mask), seeded."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for attack in ("none", "print", "replay", "mask"):
        indices = [i for i, a in enumerate(test["attack_type"]) if a == attack]
        if indices:
            picks.append(indices[int(torch.randint(len(indices), (1,), generator=generator))])
    return picks


def run(config: dict, out: Path) -> dict:
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    captioned = stage_data(config, out)
    target = config["target_domain"]
    train, dev, test = leave_one_domain_out(captioned, target)
    sources = sorted(set(captioned["test"]["dataset"]) - {target})
    targets = {target: test}
    targets.update({name: captioned["test"].filter(lambda d, n=name: d == n, input_columns="dataset")
                    for name in sources})
    init, checkpoint = stage_train(config, out, train, dev)
    baseline = stage_baseline(config, init, train, dev, targets)

    banner("5/6 Cross-domain evaluation (threshold from the source-domain dev set, written into the checkpoint)")
    model = IFASForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    evaluation = config["evaluation"]
    results = evaluate(model, processor, targets, dev, out / "report", batch_size=evaluation["batch_size"],
                       explain_per_attack_type=evaluation["explain_per_attack_type"],
                       max_new_tokens=evaluation["max_new_tokens"], model_name="ifas-demo",
                       protocol=f"SynthFAS leave-one-domain-out -> {target}")
    calibrate_checkpoint(checkpoint, results["threshold"])
    model.config.threshold = results["threshold"]
    table = comparison_table(results, baseline, target)
    print(table)

    banner(f"6/6 Answers on held-out-domain ({target}) images")
    picks = pick_answers(test, config["seed"])
    answers = model.judge(processor, [test[i]["image"] for i in picks], max_new_tokens=evaluation["max_new_tokens"],
                          crop_faces=False)  # the dataset rows are face crops already
    answer_lines = []
    for index, answer in zip(picks, answers):
        truth = test[index]["attack_detail"] or test[index]["attack_type"]
        line = (f"- truth: {truth} | judgment: {answer['judgment']} | P(live) = {answer['p_live']:.3f} | "
                f"{answer['explanation']}")
        answer_lines.append(line)
        print(line)
    minutes = (time.time() - started) / 60
    summary = "\n\n".join([
        "# I-FAS demo", f"Held-out domain: {target}; sources: {', '.join(sources)}; wall time {minutes:.1f} min.",
        "## Data\n\n" + dataset_statistics(captioned), "## Cross-domain results\n\n" + table,
        "## Answers on held-out-domain images\n\n" + "\n".join(answer_lines),
        f"Checkpoint: `{checkpoint}` (AutoModel / pipeline with trust_remote_code=True). Report: `{out / 'report'}`.",
    ])
    (out / "summary.md").write_text(summary + "\n")
    (out / "demo_results.json").write_text(json.dumps({"ifas": results, "baseline": baseline,
                                                       "answers": answers, "minutes": minutes}, indent=2, default=str))
    print(f"\nDone in {minutes:.1f} min. Summary: {out / 'summary.md'}; checkpoint: {checkpoint}")
    return {"results": results, "baseline": baseline, "answers": answers, "checkpoint": checkpoint}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).resolve().parent / "configs" / "demo.yaml"))
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--tiny", action="store_true", help="tiny random model and data: a fast smoke run")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE")
    args = parser.parse_args(argv)
    overrides = copy.deepcopy(TINY_OVERRIDES) if args.tiny else {}
    overrides.update(dict(item.split("=", 1) for item in args.set))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    return run(load_config(args.config, overrides), Path(args.out))


if __name__ == "__main__":
    main()
