"""Evaluate an I-FAS checkpoint: P(live) per image, tables and plots per target, explanations, calibration, video.

    ifas evaluate --model outputs/ifas --protocol OCI_to_M --data_root data --out reports/oci_m --explain 4
    ifas evaluate --model outputs/ifas --dataset data/msu_mfsd:test --dev_dataset data/casia_mfsd:dev \\
        --out reports/msu --calibrate
    ifas evaluate --model outputs/ifas --video clip.mp4
    accelerate launch --num_processes 8 -m ifas evaluate --model outputs/ifas --protocol OCI_to_M ...  # 8 GPUs

The report folder holds
- ``results.json`` (schema ``ifas.fas_results/1``, see `ifas.reporting.tables`) and ``results.md``: per-target and average
  HTER/AUC (paper format) and every metric; each target also has ``num_unreadable``;
- ``roc_*.png``, ``det_*.png``, ``hist_*.png`` (`ifas.reporting.write_plots`);
- with ``--explain N``: ``explanations.json``/``.md``, up to N generated answers per attack type and target with the
  explanation-consistency rates per attack type (`datasets_scripts.scf.consistency`);
- ``scores/<target>.jsonl``: one line per row (its score, or the error that made it unreadable). A re-run with the
  same model and data resumes from these files. Under several processes each scores its share of the images once
  into ``scores/<target>.jsonl.part-<rank>`` (resumable), merged in row order by the main process, which writes the
  same report as one process (`ifas.infer.sharded`).

Conventions: scores are P(live) from one forward pass; labels 0 = live, 1 = spoof. Unreadable images are logged,
counted and left out of the metrics (never scored live). The operating threshold is the dev set's EER threshold,
else the checkpoint's calibrated ``config.threshold``, else none (HTER is then not reported).
``--calibrate`` writes the dev threshold into the checkpoint's config.json, and `judge` decisions use it from then on.

In-process (the demo does this):
    >>> results = evaluate(model, processor, {"msu": test_ds}, dev=dev_ds, out_dir="report")  # doctest: +SKIP
    >>> judge_video(model, processor, "clip.mp4")["judgment"]  # doctest: +SKIP
    'No'
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import av
import numpy as np
import torch
from datasets import Dataset, load_from_disk
from datasets import Image as ImageFeature

from datasets_scripts.contract import LABEL_LIVE, check_dataset
from datasets_scripts.cue_masks import load_cue_masks
from datasets_scripts.scf.consistency import RATES, aggregate_by_attack_type, judge_answer, judgment_record
from datasets_scripts.video import check_policy, iter_frames
from ifas.fas_metrics.localisation import aggregate as aggregate_localisation
from ifas.fas_metrics.localisation import localisation
from heatmap_ifas import cues_named
from ifas.infer.sharded import PartFiles, gathered, process_device, process_state
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor, load_image
from ifas.reporting import build_results, write_document, write_plots, write_tables
from ifas.reporting.heatmaps import localisation_markdown, write_heatmap_grids

logger = logging.getLogger(__name__)

ROW_FIELDS = ("label", "attack_type", "attack_detail", "video_id", "dataset")
TARGET_SPLITS = ("test",)
DEV_SPLITS = ("dev", "validation")
CACHE_VERSION = 1


# ---------------------------------------------------------------- datasets on disk


def load_dataset_spec(spec: str, preferred_splits: Sequence[str] = TARGET_SPLITS) -> tuple[str, Dataset]:
    """(name, split) of a contract dataset given as ``DIR[:SPLIT]``.

    Without ``:SPLIT`` the first of `preferred_splits` that exists is used, else the only split; the name is the
    folder name (plus ``:SPLIT`` when one was given).
    """
    path, split = spec, None
    if not Path(spec).exists() and ":" in spec:
        path, _, split = spec.rpartition(":")
    if not Path(path).is_dir():
        raise ValueError(f"{spec}: no dataset folder {path!r} (expected DIR or DIR:SPLIT of a save_to_disk dataset)")
    try:
        loaded = load_from_disk(path)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(f"{path}: not a saved datasets folder ({error})") from None
    name = Path(path).resolve().name + (f":{split}" if split else "")
    if isinstance(loaded, Dataset):
        if split:
            raise ValueError(f"{path}: holds a single Dataset, not a DatasetDict with split {split!r}")
        dataset = loaded
    else:
        if split is None:
            split = next((s for s in preferred_splits if s in loaded), None)
            if split is None and len(loaded) == 1:
                split = next(iter(loaded))
            if split is None:
                raise ValueError(f"{path}: several splits {list(loaded)}; name one as {path}:SPLIT")
        if split not in loaded:
            raise ValueError(f"{path}: no split {split!r} (has {list(loaded)})")
        dataset = loaded[split]
    check_dataset(dataset, where=spec)
    return name, dataset


# ---------------------------------------------------------------- scoring


def model_fingerprint(model: torch.nn.Module) -> str:
    """A short hash of the weights (per-tensor sums), so cached scores are reused only for the same model."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(np.float64(tensor.detach().double().sum().item()).tobytes())
    return digest.hexdigest()[:16]


class _IndexedRows(torch.utils.data.Dataset):
    """Rows `rows` of a contract dataset with undecoded images, each tagged with its row index."""

    def __init__(self, dataset: Dataset, rows: Sequence[int]):
        self.dataset = dataset.select_columns(["image", *ROW_FIELDS]).cast_column("image", ImageFeature(decode=False))
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        row = self.dataset[self.rows[index]]
        row["row"] = self.rows[index]
        return row


class _Collate:
    """Decode a batch (catching unreadable images) and prepare the left-padded inputs of the readable ones.

    Contract rows are face crops already (the builders crop by the rule of `faces_ifas`), so they are not cropped
    again."""

    def __init__(self, processor: IFASProcessor):
        self.processor = processor

    def __call__(self, rows: list[dict]):
        readable, images, failed = [], [], []
        for row in rows:
            image = row.pop("image")
            try:
                images.append(load_image(image))
                readable.append(row)
            except ValueError as error:
                failed.append(row | {"error": str(error)})
        inputs = self.processor.prepare_inputs(images, crop_faces=False) if images else None
        return readable, failed, inputs


def _record(row: dict) -> dict:
    return {"row": row["row"], **{key: row[key] for key in ROW_FIELDS}}


def _read_cache(path: Path, key: dict) -> list[dict]:
    """The records of a scores file written for `key`; anything else (or a torn last line) is discarded."""
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as handle:
        try:
            if json.loads(handle.readline()) != key:
                logger.info("%s: written for another model or dataset, scoring again", path)
                return []
            for line in handle:
                records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s: torn line after %d records, resuming from there", path, len(records))
    return records


def _write_cache(path: Path, key: dict, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(key) + "\n")
        handle.writelines(json.dumps(record) + "\n" for record in records)
    os.replace(temporary, path)


def _score_rows(model, processor, dataset: Dataset, rows: Sequence[int], batch_size: int, desc: str,
                num_workers: int) -> Iterator[dict]:
    """The records of `rows`, in order, a batch at a time."""
    loader = torch.utils.data.DataLoader(_IndexedRows(dataset, rows), batch_size=batch_size,
                                         collate_fn=_Collate(processor), num_workers=num_workers)
    for readable, failed, inputs in loader:
        batch = [_record(row) | {"error": row["error"]} for row in failed]
        for row in failed:
            logger.warning("%s row %d: unreadable, not scored: %s", desc, row["row"], row["error"])
        if inputs is not None:
            inputs = inputs.to(model.device)
            scores = model.score_inputs(inputs["input_ids"], inputs["pixel_values"], inputs["attention_mask"])
            batch += [_record(row) | {"score": float(s)} for row, s in zip(readable, scores.tolist())]
        yield from sorted(batch, key=lambda record: record["row"])


def score_dataset(
    model: IFASForConditionalGeneration,
    processor: IFASProcessor,
    dataset: Dataset,
    batch_size: int = 8,
    *,
    cache_path: str | Path | None = None,
    desc: str = "scoring",
    num_workers: int = 0,
) -> list[dict]:
    """One record per row, in row order: ``row, label, attack_type, attack_detail, video_id, dataset`` and
    ``score`` (P(live), one forward pass per batch) or ``error`` (the image was unreadable; logged, never scored).

    With `cache_path` (a .jsonl) the records are written there, and a re-run resumes after the rows already scored.
    Under several processes (``accelerate launch``, `ifas.infer.sharded`) each process scores its share of the
    rows once (with `cache_path`, into its resumable part file ``<cache_path>.part-<rank>``, merged at the end) and
    every process returns all records.

    >>> records = score_dataset(model, processor, dataset, batch_size=8)  # doctest: +SKIP
    >>> records[0]  # doctest: +SKIP
    {'row': 0, 'label': 0, 'attack_type': 'none', ..., 'score': 0.93}
    """
    state = process_state()
    if not cache_path:
        with state.split_between_processes(list(range(len(dataset)))) as share:
            records = list(_score_rows(model, processor, dataset, share, batch_size, desc, num_workers))
        return gathered(records)
    cache_path = Path(cache_path)
    key = {"version": CACHE_VERSION, "model": model_fingerprint(model), "prompt": processor.build_prompt(),
           "dataset": dataset._fingerprint, "num_rows": len(dataset)}
    parts = PartFiles(cache_path, header=key)
    done = {record["row"] for record in _read_cache(cache_path, key) + parts.records()}
    todo = [row for row in range(len(dataset)) if row not in done]
    if done:
        logger.info("%s: %d of %d rows scored by an earlier run, resuming", desc, len(done), len(dataset))
    parts.write(todo, lambda share: _score_rows(model, processor, dataset, share, batch_size, desc, num_workers),
                desc=desc)
    if state.is_main_process:
        merged = {record["row"]: record for record in _read_cache(cache_path, key) + parts.records()}
        _write_cache(cache_path, key, [merged[row] for row in range(len(dataset))])
    parts.remove()
    return _read_cache(cache_path, key)


def scored(records: Sequence[Mapping]) -> list[Mapping]:
    """The records that have a score (readable images)."""
    return [record for record in records if "score" in record]


def warn_if_image_independent(name: str, records: Sequence[Mapping], min_spread: float = 1e-3) -> bool:
    """Log a warning (and return True) when the scores of `name` barely vary: a collapsed model scores every image
    alike, which no loss curve shows.

    >>> warn_if_image_independent("dev", [{"score": 0.2785}, {"score": 0.2784}])
    True
    """
    scores = [record["score"] for record in records]
    if len(scores) < 2 or max(scores) - min(scores) >= min_spread:
        return False
    logger.warning("%s: all %d scores lie within %.2g of each other: the model scores every image alike (collapsed "
                   "connector? try a lower learning rate)", name, len(scores), max(scores) - min(scores))
    return True


# ---------------------------------------------------------------- explanations (interpretability, measured)


@contextlib.contextmanager
def operating_threshold(model: IFASForConditionalGeneration, threshold: float | None):
    """Temporarily decide with `threshold` (unchanged when None), so explanations follow the reported threshold."""
    saved = model.config.threshold
    if threshold is not None:
        model.config.threshold = float(threshold)
    try:
        yield
    finally:
        model.config.threshold = saved


def explain_samples(
    model: IFASForConditionalGeneration,
    processor: IFASProcessor,
    dataset: Dataset,
    records: Sequence[Mapping],
    per_attack_type: int,
    *,
    max_new_tokens: int = 48,
    batch_size: int = 8,
    seed: int = 0,
    heatmaps: bool = False,
    cue_masks: Mapping | None = None,
) -> dict:
    """Generate answers (`model.judge`) for up to `per_attack_type` scored rows of each attack type (seeded draw)
    and judge their consistency: ``{"consistency": {attack_type | "all": rates}, "samples": [...]}``.

    Rates (`datasets_scripts.scf.consistency.RATES`): judgment_correct, explanation_consistent (the text does not
    contradict the judgment), names_family (it names the sample's attack family), fully_consistent (all three).
    With `heatmaps` (or `cue_masks`), answers carry their heat maps; with `cue_masks`
    (`datasets_scripts.cue_masks.load_cue_masks`), each spoof answer naming a cue that has a mask gets
    ``localisation`` (`ifas.fas_metrics.localisation`), aggregated per family under ``"localisation"``.
    """
    rng = np.random.default_rng(seed)
    by_type: dict[str, list[Mapping]] = {}
    for record in scored(records):
        by_type.setdefault(record["attack_type"], []).append(record)
    chosen = []
    for attack_type in sorted(by_type):
        group = by_type[attack_type]
        picks = rng.choice(len(group), size=min(per_attack_type, len(group)), replace=False)
        chosen += [group[i] for i in sorted(picks)]
    if not chosen:
        return {"consistency": {}, "samples": []}
    picked = dataset.cast_column("image", ImageFeature(decode=False)).select([r["row"] for r in chosen])
    heatmaps = heatmaps or cue_masks is not None
    answers = model.judge(processor, picked["image"], max_new_tokens=max_new_tokens, batch_size=batch_size,
                          crop_faces=False, heatmap=heatmaps)
    if heatmaps:
        answers = [_with_localisation(answer, record, frame, cue_masks, rng)
                   for answer, record, frame in zip(answers, chosen, picked["frame_index"])]
    samples, judgments = [], []
    for record, answer in zip(chosen, answers):
        judged = judge_answer(f"{answer['judgment']}. {answer['explanation']}", record["label"],
                              record["attack_type"], record["attack_detail"])
        judgments.append(judged)
        verdict = {key: value for key, value in judgment_record(judged).items()
                   if key not in ("attack_type", "judgment", "explanation")}
        samples.append({**record, **answer, **verdict})
    document = {"consistency": aggregate_by_attack_type(judgments), "samples": samples}
    if cue_masks is not None:
        document["localisation"] = aggregate_localisation(
            {"family": s["attack_type"], "localisation": s["localisation"]} for s in samples if "localisation" in s)
    return document


def _with_localisation(answer: dict, record: Mapping, frame_index: int, cue_masks: Mapping | None,
                       rng: np.random.Generator) -> dict:
    """`answer` with its maps as lists (for JSON), the cues its explanation names, and, for a spoof whose named
    cues have masks, their pointing game and mass share against the union of those masks."""
    answer = dict(answer)
    maps = {"judgment": answer["heatmap"], "explanation": answer["explanation_heatmap"]}
    for key in ("heatmap", "explanation_heatmap"):
        answer[key] = np.round(np.asarray(answer[key], dtype=float), 4).tolist()
    masks = (cue_masks or {}).get((record["dataset"], record["video_id"], int(frame_index)), {})
    named = [cue for cue in cues_named(answer["explanation"]) if cue in masks]
    answer["named_cues"] = cues_named(answer["explanation"])
    if record["label"] != LABEL_LIVE and named:
        union = np.logical_or.reduce([masks[cue] for cue in named])
        answer["localisation"] = localisation(maps, union, answer["heatmap_box"], rng)
        for name, key in (("judgment", "heatmap_share"), ("explanation", "explanation_heatmap_share")):
            if key in answer:
                answer["localisation"][name]["share"] = answer[key]
    return answer


def _rates_row(name: str, attack_type: str, rates: Mapping) -> str:
    cells = [f"{100 * rates[rate]:.0f}" for rate in RATES]
    return f"| {name} | {attack_type} | {rates['n']} | " + " | ".join(cells) + " |"


def explanations_markdown(document: Mapping) -> str:
    """explanations.md: consistency rates per target and attack type, then the sample answers."""
    threshold = document["threshold"]
    lines = [
        "# Sample explanations and their consistency",
        "",
        f"Up to {document['n_per_attack_type']} rows per attack type and target (seeded draw), answered with "
        f"`model.judge` (max_new_tokens={document['max_new_tokens']}) at threshold "
        f"{'0.5 (uncalibrated)' if threshold is None else f'{threshold:.6g}'}. Judged with the SCF keyword dictionary "
        "(`datasets_scripts.scf.consistency`): *judgment correct* = Yes/No matches the label; *consistent* = the "
        "explanation does not contradict the judgment; *names family* = it names the sample's attack family (a live "
        "cue for live rows); *fully consistent* = all three.",
        "",
        "## Consistency per attack type (%)",
        "",
        "| Target | Attack type | n | Judgment correct | Consistent | Names family | Fully consistent |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, target in document["targets"].items():
        lines += [_rates_row(name, attack, rates) for attack, rates in target["consistency"].items()]
    lines += [_rates_row("**all targets**", attack, rates) for attack, rates in document["all_targets"].items()]
    if "localisation" in document:
        lines += [""] + localisation_markdown(document["localisation"])
    for name, target in document["targets"].items():
        lines += ["", f"## {name}"]
        for sample in target["samples"]:
            label = "live" if sample["label"] == LABEL_LIVE else "spoof"
            marks = ", ".join(f"{rate.replace('_', ' ')} {'yes' if sample[rate] else 'no'}" for rate in RATES[1:3])
            detail = f"/{sample['attack_detail']}" if sample["attack_detail"] else ""
            text = " ".join(sample["explanation"].split()) or "(empty)"
            lines.append(
                f"- **{sample['attack_type']}{detail}** (row {sample['row']}, video {sample['video_id']}, {label}, "
                f"P(live) {sample['p_live']:.3f}): **{sample['judgment']}**. {text} "
                f"_[{marks}]_"
            )
    return "\n".join(lines) + "\n"


def write_explanations(document: Mapping, out_dir: str | Path) -> dict[str, Path]:
    """Write ``explanations.json`` and ``explanations.md`` into `out_dir`."""
    return write_document(document, explanations_markdown(document), out_dir, "explanations")


# ---------------------------------------------------------------- evaluation


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "target"


def read_scores(out_dir: str | Path, name: str) -> list[dict]:
    """The scored records (`row`, `score`, `label`, ...) that `evaluate` wrote for target `name` under `out_dir`."""
    path = Path(out_dir) / "scores" / f"{_slug(name)}.jsonl"
    if not path.is_file():
        raise ValueError(f"{path}: no scores for target {name!r} (run evaluate first)")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle.readlines()[1:]]


def evaluate(
    model: IFASForConditionalGeneration,
    processor: IFASProcessor,
    targets: Mapping[str, Dataset],
    dev: Dataset | None = None,
    out_dir: str | Path = "report",
    *,
    batch_size: int = 8,
    video_level: bool = False,
    explain_per_attack_type: int = 0,
    max_new_tokens: int = 48,
    model_name: str = "",
    protocol: str = "",
    num_workers: int = 0,
    heatmaps: bool = False,
    cue_masks: Mapping | None = None,
) -> dict:
    """Score every target (and `dev`), write tables, plots and (optionally) explanations; return the results document.

    The threshold is the dev EER threshold, else `model.config.threshold`, else none. The model is left unchanged.
    Under several processes each scores its share of the images (`score_dataset`); the main process writes.
    `heatmaps` (or `cue_masks`) answers the explained samples with heat maps, drawn per attack family in
    ``heatmaps_<target>_<family>.png``; `cue_masks` adds the localisation table to explanations.md.
    """
    out_dir = Path(out_dir)
    if not targets:
        raise ValueError("no targets to evaluate")
    common = dict(batch_size=batch_size, num_workers=num_workers)
    dev_records = None
    if dev is not None:
        dev_records = score_dataset(model, processor, dev, cache_path=out_dir / "scores" / "dev.jsonl", desc="dev",
                                    **common)
    records = {name: score_dataset(model, processor, dataset, cache_path=out_dir / "scores" / f"{_slug(name)}.jsonl",
                                   desc=name, **common)
               for name, dataset in targets.items()}
    usable = {name: scored(target) for name, target in records.items()}
    if dev_records is not None:
        operating = {"dev_records": scored(dev_records)}
        warn_if_image_independent("dev", operating["dev_records"])
    else:
        operating = {"threshold": model.config.threshold}
    for name, target in usable.items():
        warn_if_image_independent(name, target)
    results = build_results(usable, video_level=video_level, model=model_name, protocol=protocol, **operating)
    for name, target in records.items():
        results["targets"][name]["num_unreadable"] = len(target) - len(usable[name])
    if not process_state().is_main_process:  # the main process writes the report
        return results
    write_tables(results, out_dir)
    write_plots(usable, out_dir, results)
    if explain_per_attack_type > 0:
        document = {"threshold": results["threshold"], "n_per_attack_type": explain_per_attack_type,
                    "max_new_tokens": max_new_tokens, "targets": {}}
        with operating_threshold(model, results["threshold"]):
            for name, dataset in targets.items():
                document["targets"][name] = explain_samples(
                    model, processor, dataset, records[name], explain_per_attack_type,
                    max_new_tokens=max_new_tokens, batch_size=batch_size, heatmaps=heatmaps, cue_masks=cue_masks,
                )
                if heatmaps or cue_masks is not None:
                    write_heatmap_grids(name, dataset, document["targets"][name]["samples"], out_dir)
        all_samples = [judge_answer(f"{s['judgment']}. {s['explanation']}", s["label"], s["attack_type"],
                                    s["attack_detail"])
                       for target in document["targets"].values() for s in target["samples"]]
        document["all_targets"] = aggregate_by_attack_type(all_samples)
        if cue_masks is not None:
            document["localisation"] = {name: target["localisation"] for name, target in document["targets"].items()}
        write_explanations(document, out_dir)
    return results


# ---------------------------------------------------------------- calibration


def calibrate_checkpoint(checkpoint_dir: str | Path, threshold: float) -> Path:
    """Write `threshold` as ``threshold`` into the checkpoint's config.json; `judge` decides with it after a reload.

    >>> calibrate_checkpoint("outputs/ifas", 0.37)  # doctest: +SKIP
    """
    path = Path(checkpoint_dir) / "config.json"
    if not path.is_file():
        raise ValueError(f"{checkpoint_dir}: not a local checkpoint folder (no config.json) for the threshold")
    if not math.isfinite(threshold) or not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold {threshold!r} is not strictly between 0 and 1 (P(live) 0 or 1 would decide "
                         "every face alike)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    config["threshold"] = float(threshold)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


# ---------------------------------------------------------------- video in


def judge_video(
    model: IFASForConditionalGeneration,
    processor: IFASProcessor,
    video_path: str | Path,
    frames: str = "flip",
    max_new_tokens: int = 48,
    batch_size: int = 8,
    explain: bool = True,
    url_timeout: float | None = None,
) -> dict:
    """Judge a video: frames sampled as the builders do (`datasets_scripts.video`, policy `frames`, rotation applied),
    each cropped to its face by the processor's `face_crop`, P(live) averaged over the frames with a face and
    compared with `model.decision_threshold()`, explained (unless not `explain`) on the most decisive frame (the
    farthest from the threshold on the side of the decision), whose ``face_box`` is returned. No face in any frame:
    ``error`` "no face found", ``p_live`` None, ``is_live`` False. Raises ValueError naming an unreadable file
    (missing, corrupt payload, no video stream). Only local files are read unless `url_timeout` (seconds) is given.

    >>> judge_video(model, processor, "clip.mp4")  # doctest: +SKIP
    {'video': 'clip.mp4', 'judgment': 'No', 'is_live': False, 'p_live': 0.08, 'decisive_frame': 56, ...}
    """
    check_policy(frames)
    try:
        sampled = list(iter_frames(video_path, frames, url_timeout=url_timeout))
    except (OSError, ValueError, IndexError, av.error.FFmpegError) as error:
        raise ValueError(f"video file {str(video_path)!r}: cannot read frames ({error})") from None
    if not sampled:
        raise ValueError(f"video file {str(video_path)!r}: no frames")
    indices = [index for index, _ in sampled]
    faces = processor.detect_faces([image for _, image in sampled], strict=False)
    with_face = [i for i, face in enumerate(faces) if face.image is not None]
    frame_scores = [None] * len(sampled)
    if with_face:
        scores = model.score(processor, [faces[i].image for i in with_face], batch_size=batch_size, crop_faces=False)
        for i, score in zip(with_face, scores.tolist()):
            frame_scores[i] = score
    threshold = model.decision_threshold()
    live_word, spoof_word = model.config.judgment_words
    verdict = {
        "video": str(video_path), "frames": frames, "judgment": None, "is_live": False, "p_live": None,
        "threshold": threshold, "frame_indices": indices, "frame_p_live": frame_scores,
        "frames_without_face": [indices[i] for i in range(len(sampled)) if faces[i].image is None],
        "decisive_frame": None, "face_box": None, "num_faces": 0, "explanation": None, "error": None,
    }
    if not with_face:
        return verdict | {"error": f"{faces[0].error} in any of the {len(sampled)} sampled frames"}
    p_live = float(np.mean([frame_scores[i] for i in with_face]))
    is_live = p_live >= threshold
    margins = np.asarray([frame_scores[i] for i in with_face]) - threshold
    decisive = with_face[int(np.argmax(margins) if is_live else np.argmin(margins))]
    face = faces[decisive]
    verdict.update(judgment=live_word if is_live else spoof_word, is_live=bool(is_live), p_live=p_live,
                   decisive_frame=indices[decisive], num_faces=face.num_faces,
                   face_box=None if face.box is None else [float(v) for v in face.box])
    if explain:
        answer = model.judge(processor, [face.image], max_new_tokens=max_new_tokens, crop_faces=False)[0]
        verdict["explanation"] = answer["explanation"]
    return verdict


# ---------------------------------------------------------------- CLI


def load_model(path: str, device: str, dtype: str) -> tuple[IFASForConditionalGeneration, IFASProcessor]:
    """The checkpoint at `path` (folder or Hub id) on `device`, in eval mode, validated
    (`ifas.infer.checkpoint.load_checkpoint`: a `ValueError` naming the file it cannot trust)."""
    from ifas.infer.checkpoint import load_checkpoint

    return load_checkpoint(path, device, dtype)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ifas evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", required=True, help="checkpoint folder (or Hub id)")
    data = parser.add_argument_group("data (a protocol, or datasets)")
    data.add_argument("--protocol", help="named protocol (datasets_scripts.protocols), e.g. OCI_to_M")
    data.add_argument("--data_root", help="folder of built corpora for --protocol")
    data.add_argument("--dataset", action="append", default=[], metavar="DIR[:SPLIT]",
                      help="a target (repeatable); default split: test, else the only one")
    data.add_argument("--dev_dataset", action="append", default=[], metavar="DIR[:SPLIT]",
                      help="dev set(s) for the threshold (repeatable, concatenated; default split: dev, validation, "
                           "else the only one); overrides the protocol's dev set")
    parser.add_argument("--out", help="report folder")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_workers", type=int, default=0, help="DataLoader workers decoding images")
    parser.add_argument("--video_level", action="store_true", help="average frame scores per video_id first")
    parser.add_argument("--explain", type=int, default=0, metavar="N_PER_ATTACK_TYPE",
                        help="generate and judge N explanations per attack type and target")
    parser.add_argument("--max_new_tokens", type=int, default=48)
    parser.add_argument("--heatmaps", action="store_true",
                        help="answer the --explain samples with heat maps; overlay grids per attack family")
    parser.add_argument("--cue_masks", metavar="CORPUS_DIR",
                        help="a SynthFAS folder with cue_masks/: pointing game of the heat maps (implies --heatmaps)")
    parser.add_argument("--calibrate", action="store_true",
                        help="write the dev threshold into the checkpoint's config.json (config.threshold)")
    parser.add_argument("--video", help="judge one video file and print JSON (no dataset evaluation)")
    parser.add_argument("--frames", default="flip", help="frame policy for --video (datasets_scripts.video)")
    parser.add_argument("--url_timeout", type=float, default=None,
                        help="allow --video to be a URL, read with this timeout in seconds (default: local files only)")
    parser.add_argument("--device", help="default: this process's GPU (local rank modulo the GPUs), else cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    return parser


def _targets_and_dev(args, parser) -> tuple[dict[str, Dataset], Dataset | None, str]:
    if bool(args.protocol) == bool(args.dataset):
        parser.error("give either --protocol NAME --data_root DIR, or one or more --dataset DIR[:SPLIT]")
    dev = None
    if args.protocol:
        from datasets_scripts.protocols import load_protocol

        if not args.data_root:
            parser.error("--protocol needs --data_root")
        data = load_protocol(args.protocol, args.data_root)
        targets, protocol = dict(data.test), data.protocol.name
        dev = data.dev if len(data.dev) else None
    else:
        targets = dict(load_dataset_spec(spec) for spec in args.dataset)
        if len(targets) != len(args.dataset):
            parser.error(f"--dataset names collide: {args.dataset}; give distinct folders or splits")
        protocol = ""
    if args.dev_dataset:
        from datasets import concatenate_datasets

        parts = [load_dataset_spec(spec, DEV_SPLITS)[1] for spec in args.dev_dataset]
        dev = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    return targets, dev, protocol


def main(argv: list[str] | None = None) -> dict:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.video:
        model, processor = load_model(args.model, args.device or str(process_device()), args.dtype)
        verdict = judge_video(model, processor, args.video, args.frames, args.max_new_tokens, args.batch_size,
                              url_timeout=args.url_timeout)
        print(json.dumps(verdict, indent=2))
        return verdict
    if not args.out:
        parser.error("--out REPORT_DIR is required to evaluate datasets")
    targets, dev, protocol = _targets_and_dev(args, parser)
    if args.calibrate:
        if dev is None:
            parser.error("--calibrate needs a dev set (--dev_dataset, or a protocol with one)")
        if not (Path(args.model) / "config.json").is_file():
            parser.error(f"--calibrate needs a local checkpoint folder; {args.model} has no config.json")
    model, processor = load_model(args.model, args.device or str(process_device()), args.dtype)
    results = evaluate(
        model, processor, targets, dev, args.out, batch_size=args.batch_size, video_level=args.video_level,
        explain_per_attack_type=args.explain, max_new_tokens=args.max_new_tokens, model_name=args.model,
        protocol=protocol, num_workers=args.num_workers, heatmaps=args.heatmaps,
        cue_masks=load_cue_masks(args.cue_masks) if args.cue_masks else None,
    )
    if not process_state().is_main_process:
        return results
    if args.calibrate:
        path = calibrate_checkpoint(args.model, results["threshold"])
        logger.info("calibrated: threshold %.6g written to %s", results["threshold"], path)
    average = results["average"]
    logger.info("wrote %s: average HTER %s, AUC %s over %d target(s)", args.out, average["hter"], average["auc"],
                average["num_targets"])
    return results

