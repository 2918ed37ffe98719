"""Heat maps on a trained checkpoint and its held-out SynthFAS domain: the cost of a heat map against one `score`
forward, the named family against the true one (confusion matrix), and the pointing game of the maps against the
cue masks (centre-prior and random baselines), and the maps' evidence share (`heatmap_ifas.evidence_share`: how
much of the answer's first-order evidence passes through the patch features the maps show, the rest through the
GAC's global tokens), median over the answers.

The corpus folder is a `build_synthfas` output (with `synthfas_config.json`); a build made before cue masks existed
gets them re-rendered for the target domain from its config, each re-rendered frame checked byte for byte against
the corpus image. A family is *named* when the answer contains its concise lead ("Printed photo", "Screen replay",
"Paper mask", `datasets_scripts.scf.template_captioner.CONCISE_LEADS`).

    python bench/bench_heatmaps.py --checkpoint outputs/demo/checkpoint --corpus outputs/demo/synthfas \
        --target synth_d --out outputs/bench_heatmaps.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Image as ImageFeature
from datasets import load_from_disk

from datasets_scripts.cue_masks import CUE_MASKS_DIR, load_cue_masks, masks_by_image
from datasets_scripts.scf.keywords import family_of
from datasets_scripts.scf.template_captioner import CONCISE_LEADS
from datasets_scripts.synthfas import iter_records, leave_one_domain_out
from ifas.evaluation import _with_localisation, load_model
from ifas.fas_metrics.localisation import aggregate

FAMILIES = ("print", "replay", "paper_mask")


def target_masks(corpus_dir: Path, target: str, images: dict) -> dict:
    """Cue masks of the target domain: saved ones, else re-rendered from the build's config and checked."""
    if (corpus_dir / CUE_MASKS_DIR).exists():
        return load_cue_masks(corpus_dir)
    config = json.loads((corpus_dir / "synthfas_config.json").read_text())
    rows: list[dict] = []
    for record in iter_records(per_domain=config["per_domain"], size=config["size"], seed=config["seed"],
                               frames_per_video=config["frames_per_video"], domains=(target,), mix=config["mix"],
                               splits=config["splits"], cue_masks=rows):
        key = (record["dataset"], record["video_id"], record["frame_index"])
        if record["label"] == 1 and images.get(key) != record["image"]["bytes"]:
            raise ValueError(f"{corpus_dir}: re-rendered {key} differs from the corpus image (another generator?)")
    return masks_by_image(rows)


def named_families(explanation: str) -> set[str]:
    text = explanation.lower()
    return {family for family in FAMILIES if CONCISE_LEADS[family].lower() in text}


def seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", required=True, help="the build_synthfas folder the checkpoint was tested on")
    parser.add_argument("--target", default="synth_d")
    parser.add_argument("--max_new_tokens", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--timing_images", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    corpus_dir = Path(args.corpus)
    _, _, test = leave_one_domain_out(load_from_disk(str(corpus_dir)), args.target)
    test = test.cast_column("image", ImageFeature(decode=False))
    spoof = test.filter(lambda label: label == 1, input_columns=["label"])
    images = {(r["dataset"], r["video_id"], r["frame_index"]): r["image"]["bytes"] for r in spoof}
    masks = target_masks(corpus_dir, args.target, images)
    model, processor = load_model(args.checkpoint, "cpu", "float32")
    model.eval()

    # cost per image (batch 1): one score forward, judge without and with heat maps
    timing = {"score": [], "judge": [], "judge_heatmap": []}
    for row in spoof.select(range(args.timing_images)):
        image = [row["image"]]
        timing["score"].append(seconds(lambda: model.score(processor, image, crop_faces=False), 3))
        timing["judge"].append(seconds(lambda: model.judge(processor, image, crop_faces=False,
                                                           max_new_tokens=args.max_new_tokens), 3))
        timing["judge_heatmap"].append(seconds(lambda: model.judge(processor, image, crop_faces=False, heatmap=True,
                                                                   max_new_tokens=args.max_new_tokens), 3))
    cost = {key: statistics.median(values) for key, values in timing.items()}
    cost["heatmap"] = cost["judge_heatmap"] - cost["judge"]
    cost["heatmap_over_score"] = cost["heatmap"] / cost["score"]

    answers = model.judge(processor, spoof["image"], crop_faces=False, heatmap=True,
                          max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    rng = np.random.default_rng(0)
    confusion = {family: {} for family in FAMILIES}
    samples = []
    for row, answer in zip(spoof.remove_columns("image"), answers):
        truth = family_of(row["attack_type"], row["attack_detail"])
        named = named_families(answer["explanation"])
        cell = next(iter(named)) if len(named) == 1 else ("none" if not named else "several")
        confusion[truth][cell] = confusion[truth].get(cell, 0) + 1
        scored = _with_localisation(answer, row, row["frame_index"], masks, rng)
        sample = {"family": truth, "detail": row["attack_detail"], "judgment": answer["judgment"],
                  "p_live": answer["p_live"], "explanation": answer["explanation"], "named_cues": scored["named_cues"]}
        if "localisation" in scored:
            sample["localisation"] = scored["localisation"]
        samples.append(sample)
    right = {family: confusion[family].get(family, 0) / max(sum(confusion[family].values()), 1) for family in FAMILIES}
    result = {
        "checkpoint": args.checkpoint, "target": args.target, "n_spoof": len(samples), "cost_seconds": cost,
        "named_family_confusion": confusion, "named_family_right": right,
        "evidence_share": {key: statistics.median(answer[key] for answer in answers)
                           for key in ("heatmap_share", "explanation_heatmap_share")},
        "named_family_right_all": sum(confusion[f].get(f, 0) for f in FAMILIES) / max(len(samples), 1),
        "localisation": aggregate({"family": s["family"], "localisation": s["localisation"]}
                                  for s in samples if "localisation" in s),
        "samples": samples,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return result


if __name__ == "__main__":
    main()
