"""Where the held-out attack family is lost: in the frozen tower, in the connector, or in the LLM.

    .venv/bin/python bench/bench_readout.py [--checkpoints outputs/demo/seed_0/checkpoint,...]
        [--corpus outputs/demo/synthfas] [--target synth_d]

A logistic regression (standardised inputs) learns the attack family of the source domains' spoof images (every
split) and names the family of every spoof image of the held-out `--target` domain, from: the frozen tower's
per-layer global tokens (what the GAC reads), the last layer's global token only, and each checkpoint's GAC output
tokens (mean-pooled, and all of them). What a read-out of the tower names right and the model's answers do not
(`bench_heatmaps.py`'s confusion matrix) was lost in the connector or the LLM. Prints a markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_line  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets import concatenate_datasets, load_from_disk  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from ifas.train.connector_init import encode_images  # noqa: E402
from modeling_ifas import IFASForConditionalGeneration  # noqa: E402
from processing_ifas import IFASProcessor  # noqa: E402


def family_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict:
    """Overall and per-family accuracy of a logistic regression fitted on (train_x, train_y), on the test rows."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x, train_y)
    named = classifier.predict(test_x)
    return {"all": float((named == test_y).mean())} | {
        family: float((named[test_y == family] == family).mean()) for family in sorted(set(test_y))}


def spoofs(corpus, target: str, held_out: bool):
    rows = concatenate_datasets([corpus[split] for split in corpus])
    return rows.filter(lambda label, dataset: label == 1 and (dataset == target) == held_out,
                       input_columns=["label", "dataset"])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default=",".join(
        str(ROOT / f"outputs/demo/seed_{seed}/checkpoint") for seed in range(3)))
    parser.add_argument("--corpus", default=str(ROOT / "outputs/demo/synthfas"))
    parser.add_argument("--target", default="synth_d")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoints.split(",")
    corpus = load_from_disk(args.corpus)
    source, held_out = spoofs(corpus, args.target, False), spoofs(corpus, args.target, True)
    first = IFASForConditionalGeneration.from_pretrained(checkpoints[0]).eval().requires_grad_(False)
    processor = IFASProcessor.from_pretrained(checkpoints[0], trust_remote_code=True)
    train_global, train_patches = encode_images(first, processor, list(source["image"]))
    test_global, test_patches = encode_images(first, processor, list(held_out["image"]))
    train_y, test_y = np.asarray(source["attack_type"]), np.asarray(held_out["attack_type"])
    results = {
        "tower, every layer's global token": [family_accuracy(train_global.flatten(1).numpy(), train_y,
                                                              test_global.flatten(1).numpy(), test_y)],
        "tower, last layer's global token": [family_accuracy(train_global[:, -1].numpy(), train_y,
                                                             test_global[:, -1].numpy(), test_y)],
        "GAC output tokens, mean": [], "GAC output tokens, all": [],
    }
    for checkpoint in checkpoints:
        gac = IFASForConditionalGeneration.from_pretrained(checkpoint).model.gac.eval()
        with torch.no_grad():
            train_tokens, test_tokens = gac(train_global, train_patches), gac(test_global, test_patches)
        results["GAC output tokens, mean"].append(family_accuracy(
            train_tokens.mean(1).numpy(), train_y, test_tokens.mean(1).numpy(), test_y))
        results["GAC output tokens, all"].append(family_accuracy(
            train_tokens.flatten(1).numpy(), train_y, test_tokens.flatten(1).numpy(), test_y))
    families = ["all", *sorted(set(test_y))]
    print(f"`bench/bench_readout.py {' '.join(argv if argv is not None else sys.argv[1:])}` on {machine_line()}; "
          f"{len(source)} source spoofs, {len(held_out)} held-out ({args.target}) spoofs; {len(checkpoints)} "
          "checkpoint(s): median (range) of the GAC rows over them, in %.\n")
    print("| read-out from | " + " | ".join(families) + " |")
    print("|---|" + "---|" * len(families))
    for name, runs in results.items():
        cells = []
        for family in families:
            values = [100 * run[family] for run in runs]
            spread = f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else ""
            cells.append(f"{statistics.median(values):.1f}{spread}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return results


if __name__ == "__main__":
    main()
