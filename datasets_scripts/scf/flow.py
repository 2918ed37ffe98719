"""The SCF flow on a contract DatasetDict: caption, filter, (fine-tune C_S and re-caption), template fallback.

1. The general captioner C_G captions every row (spoof and live) -> the filter keeps or rejects each caption.
2. With `finetune=True`: C_G is fine-tuned on the kept rows into C_S (`datasets_scripts.scf.finetune`), which then
   captions the rejected rows and all live rows; a kept C_S caption replaces the row's caption.
3. Rows still without a kept caption get the template captioner (`caption_source="template"`).
With `captioner="template"` every row gets a template caption. Existing captions are overwritten.

Every stage is resumable under `work_dir`: a rerun after an interruption reuses finished shards (and a finished
C_S) and gives the same captions.

Example:
    >>> captioned, report = run_scf(load_from_disk("corpus"), "template", "work")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

from datasets import DatasetDict, concatenate_datasets

from datasets_scripts.contract import LABEL_LIVE, check_dataset
from datasets_scripts.scf.caption_filter import judge_caption
from datasets_scripts.scf.keywords import family_of
from datasets_scripts.scf.pipeline_captioner import DEFAULT_PROMPT_MODE, PipelineCaptioner
from datasets_scripts.scf.report import STAGES, build_report
from datasets_scripts.scf.resumable import caption_resumable, process_state
from datasets_scripts.scf.template_captioner import SOURCE as TEMPLATE_SOURCE
from datasets_scripts.scf.template_captioner import template_caption_for_row
from ifas.infer.sharded import process_device

logger = logging.getLogger(__name__)

TEMPLATE = "template"
FINETUNE_MODULE = "datasets_scripts.scf.finetune"
LIGHT_COLUMNS = ("label", "attack_type", "attack_detail", "dataset", "split", "subject", "video_id", "frame_index")


def require_finetune() -> None:
    """Raise a clear error when the C_S fine-tuning module is not installed."""
    if importlib.util.find_spec(FINETUNE_MODULE) is None:
        raise RuntimeError(
            f"--finetune needs {FINETUNE_MODULE} (datasets_scripts/scf/finetune.py with "
            "finetune_captioner(kept, captioner, output_dir, **kwargs) -> str), which is not present"
        )


def _finetune(kept, captioner: str, work_dir: Path) -> str:
    """Fine-tune C_G on the kept rows into C_S once; a rerun reuses the recorded result."""
    marker = work_dir / "spoof_aware_captioner.json"
    if marker.exists():
        return json.loads(marker.read_text())["path"]
    require_finetune()
    from datasets_scripts.scf.finetune import finetune_captioner

    logger.info("fine-tuning %s on %d kept captions into C_S", captioner, len(kept))
    path = str(finetune_captioner(kept, captioner, str(work_dir / "spoof_aware_captioner")))
    state = process_state()
    if state.is_main_process:
        marker.write_text(json.dumps({"path": path, "base": captioner, "kept_rows": len(kept)}))
    state.wait_for_everyone()
    return path


def _run_stage(dataset: DatasetDict, rows: dict, targets: dict, captioner: PipelineCaptioner, stage: str,
               state: dict, work_dir: Path, shard_size: int) -> None:
    """Caption the target rows of every split, judge each caption, record the verdict and adopt kept captions.

    `state[split][index]` holds the row's trace (`{stage: reason}`) and its adopted `(caption, source)` or None.
    """
    for split, indices in targets.items():
        captions = caption_resumable(
            dataset[split], indices, captioner.caption, work_dir / stage / split,
            settings=captioner.settings, shard_size=shard_size, desc=f"{stage} {split}",
        )
        for index, caption in zip(indices, captions):
            row, entry = rows[split][index], state[split][index]
            verdict = judge_caption(caption, row["label"], row["attack_type"], row["attack_detail"] or "")
            entry["trace"][stage] = verdict.reason
            if verdict.kept:
                entry["caption"] = (caption, captioner.source)


def _kept_rows(dataset: DatasetDict, state: dict):
    """The rows with an adopted caption, from every split, as one Dataset (None when there are none)."""
    parts = []
    for split, ds in dataset.items():
        kept = [i for i, entry in enumerate(state[split]) if entry["caption"] is not None]
        if kept:
            part = ds.select(kept).remove_columns(["caption", "caption_source"])
            part = part.add_column("caption", [state[split][i]["caption"][0] for i in kept])
            parts.append(part.add_column("caption_source", [state[split][i]["caption"][1] for i in kept]))
    return concatenate_datasets(parts) if parts else None


def run_scf(
    dataset: DatasetDict,
    captioner: str,
    work_dir: str | os.PathLike,
    *,
    finetune: bool = False,
    batch_size: int = 8,
    prompt_mode: str = DEFAULT_PROMPT_MODE,
    seed: int = 0,
    shard_size: int = 64,
    max_new_tokens: int = 64,
    concise_templates: bool = False,
) -> tuple[DatasetDict, dict]:
    """Fill `caption` and `caption_source` of every split; return the new DatasetDict and the report dict.

    `captioner` is a Hugging Face model name or path, or "template". Splits, row order and all other columns
    are kept. `seed` seeds the template captioner; `concise_templates` makes its captions one short sentence.
    """
    check_dataset(dataset, where="SCF input")
    if captioner == TEMPLATE and finetune:
        raise ValueError("--finetune needs a model captioner to fine-tune, not 'template'")
    if finetune:
        require_finetune()
    work_dir = Path(work_dir)
    rows = {split: ds.select_columns(list(LIGHT_COLUMNS)).to_list() for split, ds in dataset.items()}
    state = {split: [{"trace": {stage: None for stage in STAGES}, "caption": None} for _ in split_rows]
             for split, split_rows in rows.items()}
    options = {"prompt_mode": prompt_mode, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
               "device": process_device()}

    if captioner != TEMPLATE:
        everything = {split: list(range(len(split_rows))) for split, split_rows in rows.items()}
        general = PipelineCaptioner(captioner, **options)
        _run_stage(dataset, rows, everything, general, "general", state, work_dir, shard_size)
    if finetune:
        kept = _kept_rows(dataset, state)
        if kept is None:
            logger.warning("no C_G caption passed the filter: nothing to fine-tune C_S on; skipping C_S")
        else:
            path = _finetune(kept, captioner, work_dir)
            spoof_aware = PipelineCaptioner(path, source=f"spoof_aware:{path}", **options)
            rejected_or_live = {
                split: [i for i, row in enumerate(split_rows)
                        if state[split][i]["caption"] is None or row["label"] == LABEL_LIVE]
                for split, split_rows in rows.items()
            }
            _run_stage(dataset, rows, rejected_or_live, spoof_aware, "spoof_aware", state, work_dir, shard_size)

    output, traces = DatasetDict(), []
    for split, ds in dataset.items():
        for row, entry in zip(rows[split], state[split]):
            if entry["caption"] is None:
                entry["caption"] = (template_caption_for_row(row, seed, concise_templates), TEMPLATE_SOURCE)
            traces.append(entry["trace"] | {
                "dataset": row["dataset"], "attack_type": row["attack_type"], "split": split,
                "family": family_of(row["attack_type"], row["attack_detail"] or ""),
                "caption_source": entry["caption"][1],
            })
        columns = ds.column_names
        ds = ds.remove_columns(["caption", "caption_source"])
        ds = ds.add_column("caption", [entry["caption"][0] for entry in state[split]])
        ds = ds.add_column("caption_source", [entry["caption"][1] for entry in state[split]])
        output[split] = ds.select_columns(columns)
    settings = {"captioner": captioner, "finetune": finetune, "prompt_mode": prompt_mode, "seed": seed,
                "max_new_tokens": max_new_tokens, "concise_templates": concise_templates}
    return output, build_report(traces, settings=settings)
