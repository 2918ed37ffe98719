"""`ifas adapt`: fine-tune an I-FAS checkpoint on a few of the user's own captures, and show before/after on captures
it never trained on.

The captures are cropped with the checkpoint's own face rule, split into an adaptation part and a check part (whole
sub-folders held out; or a check set given explicitly), and the model is fine-tuned on the adaptation part with the
package's training path (`train_sft.build_trainer`: a connector warm start on the captures, then the L-LM loss with
LoRA on the LLM and the connector at a low rate, the frozen tower's features cached) and concise per-family captions,
so it still answers and explains. Each adaptation capture is trained on together with `augment` (16) variations of
itself (`ifas.train.augment`: framing, exposure, JPEG), so that 20 captures teach the camera rather than those 20
images. The adapted checkpoint decides on the mean Yes/No margin of each face and its mirror image
(`IFASConfig.test_time_mirror`). The threshold is set from the adaptation part only
(`ifas.fas_metrics.choose_threshold` on its scores after training); the check part never trains and never sets the
threshold. The result is a complete checkpoint (AutoModel, pipeline, `ifas predict`) with `adapt_report.md`,
`adapt_report.json`, `adapt_split.json` and histograms beside it.

Example:
    >>> from ifas.train.adapt import adapt
    >>> report = adapt("outputs/demo/checkpoint", live=["captures/live"], spoof={"print": ["captures/prints"]},
    ...                out="outputs/adapted")  # doctest: +SKIP
    >>> report["after"]["auc"], report["threshold"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from transformers import TrainerCallback

from datasets_scripts.contract import FEATURES, LABEL_LIVE, LABEL_SPOOF
from ifas.evaluation import calibrate_checkpoint
from ifas.fas_metrics import choose_threshold, compute_fas_metrics
from ifas.train.adapt_data import collect_captures, crop_captures, split_captures
from ifas.train.augment import augmented_copies
from ifas.train.vision_cache import VisionFeatureCache
from modeling_ifas import IFASForConditionalGeneration, p_live_from_margin
from processing_ifas import IFASProcessor
from ifas.reporting.adapt_report import write_adapt_report

logger = logging.getLogger(__name__)
TRAINING_SHARE_OF_BUDGET = 0.75  # the rest of --max_minutes is for cropping, scoring and the report


class TimeBudget(TrainerCallback):
    """Stop training once `deadline` (a `time.time()` value) has passed; records whether it did."""

    def __init__(self, deadline: float):
        self.deadline, self.stopped_early = deadline, False

    def on_step_end(self, args, state, control, **kwargs):
        if time.time() >= self.deadline:
            self.stopped_early = control.should_training_stop = True
        return control


def _rows_dataset(rows: Sequence[dict]) -> Dataset:
    return Dataset.from_dict({column: [row[column] for row in rows] for column in FEATURES}, features=FEATURES)


def _require_usable(rows: Sequence[dict], problems: Sequence[dict], part: str, minimum: int) -> None:
    for label, name in ((LABEL_LIVE, "live"), (LABEL_SPOOF, "spoof")):
        usable = sum(row["label"] == label for row in rows)
        if usable < minimum:
            unusable = f"; {len(problems)} capture(s) of the {part} part unusable, e.g. {problems[0]}" if problems else ""
            raise ValueError(f"{usable} usable {name} capture(s) in the {part} part, at least {minimum} needed"
                             f"{unusable}")


def _load(checkpoint: str | Path, device: str) -> IFASForConditionalGeneration:
    model = IFASForConditionalGeneration.from_pretrained(str(checkpoint), dtype=torch.float32)
    return model.to(device).eval().requires_grad_(False)


def _margins(model, processor, rows: Sequence[dict], batch_size: int) -> list[float]:
    return model.score(processor, [row["image"] for row in rows], batch_size=batch_size, crop_faces=False,
                       return_margin=True)[1].tolist()


def _metrics(margins: Sequence[float], rows: Sequence[dict], threshold: float) -> dict:
    p_live = p_live_from_margin(torch.tensor(margins)).tolist()
    metrics = compute_fas_metrics(p_live, [row["label"] for row in rows], dev_threshold=threshold,
                                  attack_types=[row["attack_type"] for row in rows])
    keys = ("auc", "hter", "apcer", "bpcer", "eer", "threshold", "apcer_per_family")
    return {key: metrics[key] for key in keys}


def training_arguments(checkpoint: str, data_path: str, out: str, *, max_steps: int, batch_size: int,
                       learning_rate: float, lora_r: int, seed: int, device: str, warm_start_steps: int = 0
                       ) -> list[str]:
    """`train_sft.py` arguments of an adaptation run: the demo recipe's LoRA and loss, a connector warm start on the
    captures, no connector re-calibration."""
    args = {
        "model_name_or_path": checkpoint, "dataset_path": data_path, "output_dir": out, "seed": seed,
        "report_to": "none", "save_strategy": "no", "max_steps": max_steps, "per_device_train_batch_size": batch_size,
        "learning_rate": learning_rate, "connector_learning_rate": learning_rate / 10,
        "lr_scheduler_type": "constant_with_warmup", "warmup_steps": max(1, max_steps // 10), "judgment_weight": 0.7,
        "freeze_vision_tower": "true", "cache_vision_features": "true", "use_peft": "true", "lora_r": lora_r,
        "lora_alpha": 2 * lora_r, "lora_dropout": 0.0, "logging_steps": max(1, max_steps // 10),
        "use_cpu": str(device == "cpu").lower(), "warm_start_connector_steps": warm_start_steps,
    }
    return [item for key, value in args.items() for item in (f"--{key}", str(value))]


def adapt(
    checkpoint: str | Path,
    live: Sequence[str | Path],
    spoof: Mapping[str, Sequence[str | Path]],
    out: str | Path,
    *,
    check_live: Sequence[str | Path] = (),
    check_spoof: Mapping[str, Sequence[str | Path]] | None = None,
    check_fraction: float = 0.3,
    max_minutes: float = 10.0,
    max_steps: int = 60,
    batch_size: int = 4,
    learning_rate: float = 1e-3,
    lora_r: int = 8,
    min_images_per_class: int = 8,
    explain: int = 4,
    seed: int = 0,
    device: str = "cpu",
    crop_faces: bool = True,
    warm_start_steps: int = 600,
    augment: int = 16,
    test_time_mirror: bool = True,
    vision_cache: VisionFeatureCache | None = None,
) -> dict:
    """Adapt `checkpoint` to the user's captures; write the adapted checkpoint and its report into `out` (a new or
    empty folder). `spoof` maps an attack family (`print`, `replay`, `mask`, `paper_mask`, ..., or `other`) to paths.
    `check_live`/`check_spoof` give the check part explicitly (then nothing is held out of `live`/`spoof`).
    `crop_faces=False`: the captures are face crops already. `warm_start_steps`: first train the connector with a
    temporary live/attack-type probe on the adaptation captures (`train_sft --warm_start_connector_steps`, seconds;
    0 = off). `augment`: variations of each adaptation capture trained on beside it (`ifas.train.augment`; 0 = off;
    the threshold still comes from the captures themselves). `test_time_mirror`: the adapted checkpoint decides on
    the mean margin of each face and its mirror (`IFASConfig.test_time_mirror`), threshold included.
    `vision_cache`: a `VisionFeatureCache` of the same frozen tower to share between runs. Returns the report (also
    `out/adapt_report.json`)."""
    started = time.time()
    import train_sft

    checkpoint, out = str(checkpoint), Path(out)
    if not (Path(checkpoint) / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint folder (no config.json)")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: the output folder exists and is not empty; give a new folder")
    captures = collect_captures(live, spoof)
    if check_live or check_spoof:
        adaptation, check = captures, collect_captures(check_live, check_spoof or {})
        shared = {c.path.resolve() for c in adaptation} & {c.path.resolve() for c in check}
        if shared:
            raise ValueError(f"{sorted(shared)[0]} is in both the adaptation and the check captures")
    else:
        adaptation, check = split_captures(captures, check_fraction, seed)
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    model = _load(checkpoint, device)
    cache = vision_cache if vision_cache is not None else VisionFeatureCache()
    try:
        cache.attach(model)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{checkpoint}: its vision tower cannot be cached for adaptation ({error})") from None
    train_rows, train_problems = crop_captures(processor, adaptation, "train", seed, crop_faces)
    check_rows, check_problems = crop_captures(processor, check, "test", seed, crop_faces)
    _require_usable(train_rows, train_problems, "adaptation", min_images_per_class)
    _require_usable(check_rows, check_problems, "check", 1)
    logger.info("adaptation: %d crops (%d unusable); check: %d crops (%d unusable)", len(train_rows),
                len(train_problems), len(check_rows), len(check_problems))

    before_threshold = model.decision_threshold()
    before_margins = _margins(model, processor, check_rows, batch_size)
    before = _metrics(before_margins, check_rows, before_threshold) | {"margins": before_margins}

    budget = TimeBudget(started + TRAINING_SHARE_OF_BUDGET * max_minutes * 60)
    with tempfile.TemporaryDirectory(prefix="ifas-adapt-") as work:
        del model
        training_rows = train_rows + augmented_copies(train_rows, augment, seed)
        DatasetDict({"train": _rows_dataset(training_rows)}).save_to_disk(f"{work}/data")
        parser = train_sft.TrlParser((train_sft.IFASScriptArguments, train_sft.IFASSFTConfig, train_sft.ModelConfig))
        arguments = parser.parse_args_and_config(args=training_arguments(
            checkpoint, f"{work}/data", str(out), max_steps=max_steps, batch_size=batch_size,
            learning_rate=learning_rate, lora_r=lora_r, seed=seed, device=device, warm_start_steps=warm_start_steps))
        trainer = train_sft.build_trainer(*arguments, vision_cache=cache)
        trainer.add_callback(budget)
        trainer.train()
        train_sft.save_final(trainer, arguments[0])
        steps = trainer.state.global_step
        del trainer

    adapted = _load(out, device)
    adapted.config.test_time_mirror = test_time_mirror
    adapted.config.save_pretrained(out)
    cache.attach(adapted)
    train_p_live = p_live_from_margin(torch.tensor(_margins(adapted, processor, train_rows, batch_size))).tolist()
    threshold = choose_threshold(train_p_live, [row["label"] for row in train_rows])
    calibrate_checkpoint(out, threshold)
    adapted.config.threshold = threshold
    after_margins = _margins(adapted, processor, check_rows, batch_size)
    after = _metrics(after_margins, check_rows, threshold) | {"margins": after_margins}
    per_class = (explain + 1) // 2
    shown = [i for label in (LABEL_LIVE, LABEL_SPOOF)
             for i in [j for j, row in enumerate(check_rows) if row["label"] == label][:per_class]]
    answers = adapted.judge(processor, [check_rows[i]["image"] for i in shown], crop_faces=False,
                            max_new_tokens=24) if shown else []
    report = {
        "checkpoint": checkpoint, "out": str(out), "seed": seed,
        "counts": {
            "adaptation": {"live": sum(r["label"] == LABEL_LIVE for r in train_rows),
                           "spoof": sum(r["label"] == LABEL_SPOOF for r in train_rows),
                           "unusable": len(train_problems)},
            "check": {"live": sum(r["label"] == LABEL_LIVE for r in check_rows),
                      "spoof": sum(r["label"] == LABEL_SPOOF for r in check_rows), "unusable": len(check_problems)},
        },
        "unusable": train_problems + check_problems,
        "training": {"steps": steps, "max_steps": max_steps, "stopped_by_time_budget": budget.stopped_early,
                     "warm_start_connector_steps": warm_start_steps, "augment_copies": augment,
                     "batch_size": batch_size, "learning_rate": learning_rate, "lora_r": lora_r},
        "threshold_before": before_threshold, "threshold": threshold,
        "before": before, "after": after,
        "check_labels": [row["label"] for row in check_rows],
        "check_attack_types": [row["attack_type"] for row in check_rows],
        "answers": [{"path": check_rows[i]["video_id"], "label": check_rows[i]["label"],
                     "attack_type": check_rows[i]["attack_type"]} | answer for i, answer in zip(shown, answers)],
        "minutes": (time.time() - started) / 60,
    }
    split = {"adaptation": [row["video_id"] for row in train_rows], "check": [row["video_id"] for row in check_rows],
             "unusable": report["unusable"], "threshold_from": "adaptation"}
    (out / "adapt_split.json").write_text(json.dumps(split, indent=1))
    write_adapt_report(report, out)
    return report
