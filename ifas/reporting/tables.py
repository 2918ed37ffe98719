"""Per-target FAS results: the results.json document and its Markdown tables (paper format and full).

Input: per-sample records grouped by target name, ``{"MSU-MFSD": [{"score": 0.93, "label": 0, "attack_type": "none",
"attack_detail": "", "video_id": "v1", "dataset": "msu_mfsd"}, ...], ...}``; ``score`` is P(live), ``label`` 0 live /
1 spoof; ``attack_type`` + ``attack_detail`` (the PAI species of APCER), ``video_id`` (video level; a video is
``(dataset, video_id)``) and ``dataset`` are optional.

results.json schema (``SCHEMA`` = "ifas.fas_results/2"); every rate is a fraction in [0, 1], null when undefined::

    {
      "schema": "ifas.fas_results/2",
      "model": str, "protocol": str,
      "level": "frame" | "video",
      "threshold": float | null,                 # operating threshold, chosen on dev; null = none given
      "threshold_source": "dev_set" | "dev_threshold" | null,
      "conventions": {str: str},                 # polarity, decision rule, oracle meaning (CONVENTIONS)
      "targets": {                                # insertion order = table order
        "<target>": {<ifas.fas_metrics.compute_fas_metrics keys>, "datasets": [str, ...]}
      },
      "average": {"num_targets": int, <AVERAGED_KEYS>: float | null}   # unweighted mean over targets
    }

Example:
    >>> records = {"demo": [{"score": 0.9, "label": 0}, {"score": 0.2, "label": 1, "attack_type": "print"}]}
    >>> results = build_results(records, threshold=0.5)
    >>> results["targets"]["demo"]["hter"], results["average"]["auc"]
    (0.0, 1.0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ifas.fas_metrics import choose_threshold, compute_fas_metrics

SCHEMA = "ifas.fas_results/2"
AVERAGED_KEYS = (
    "hter", "hter_oracle", "auc", "eer", "apcer_max", "bpcer", "acer", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct",
)
CONVENTIONS = {
    "score": "P(live); higher = more live",
    "labels": "0 = live (bona fide, the ROC's positive class), 1 = spoof",
    "decision": "accept as live when score >= threshold",
    "hter": "HTER = (APCER pooled over attacks + BPCER) / 2 at the dev-chosen threshold; null without a dev threshold",
    "hter_oracle": "HTER at the test set's own EER threshold (FLIP/SAFAS convention; optimistic, for comparison only)",
    "apcer_max": "ISO/IEC 30107-3: worst APCER over PAI species (attack_type/attack_detail); "
                 "ACER = (apcer_max + BPCER) / 2",
    "apcer_per_family": "extra, not ISO: APCER per attack type pooled over its species",
    "video": "a video is (dataset, video_id); frame scores are averaged per video at video level",
    "tpr_at_fpr": "largest share of live accepted with at most 1% / 0.1% of spoofs accepted, no interpolation",
    "average": "unweighted mean over targets; null when any target lacks the value",
}


def records_to_columns(records: Sequence[Mapping], where: str) -> dict:
    """Columns ``score, label, attack_type, attack_detail, video_id, dataset`` as arrays (None for a key some record
    lacks; ``attack_detail`` may be empty, the others not)."""
    if not records:
        raise ValueError(f"{where}: no records")
    for i, record in enumerate(records):
        missing = [key for key in ("score", "label") if key not in record]
        if missing:
            raise ValueError(f"{where} record {i}: missing {missing}; has {sorted(record)}")
    columns = {"score": np.array([r["score"] for r in records], dtype=np.float64),
               "label": np.array([r["label"] for r in records], dtype=np.int64)}
    for key in ("attack_type", "video_id", "dataset"):
        has = all(r.get(key) not in (None, "") for r in records)
        columns[key] = np.array([str(r[key]) for r in records], dtype=object) if has else None
    has_detail = all(r.get("attack_detail") is not None for r in records)
    columns["attack_detail"] = np.array([str(r["attack_detail"]) for r in records], dtype=object) if has_detail else None
    return columns


def _target_metrics(columns: dict, target: str, threshold: float | None, video_level: bool) -> dict:
    if video_level and columns["video_id"] is None:
        raise ValueError(f"target {target!r}: video_level needs a video_id in every record")
    try:
        metrics = compute_fas_metrics(
            columns["score"], columns["label"], video_ids=columns["video_id"], attack_types=columns["attack_type"],
            attack_details=columns["attack_detail"], datasets=columns["dataset"], video_level=video_level,
            dev_threshold=threshold,
        )
    except ValueError as error:
        raise ValueError(f"target {target!r}: {error}") from error
    metrics["datasets"] = sorted(set(columns["dataset"].tolist())) if columns["dataset"] is not None else []
    return metrics


def _average(targets: dict) -> dict:
    average = {"num_targets": len(targets)}
    for key in AVERAGED_KEYS:
        values = [metrics.get(key) for metrics in targets.values()]
        average[key] = None if any(v is None for v in values) else float(np.mean(values))
    return average


def build_results(
    records_by_target: Mapping[str, Sequence[Mapping]],
    *,
    threshold: float | None = None,
    dev_records: Sequence[Mapping] | None = None,
    video_level: bool = False,
    model: str = "",
    protocol: str = "",
) -> dict:
    """The results.json document; the operating threshold is ``threshold`` or the EER threshold of ``dev_records``."""
    if threshold is not None and dev_records is not None:
        raise ValueError("give either threshold or dev_records, not both")
    if not records_by_target:
        raise ValueError("no targets to evaluate")
    source = "dev_threshold" if threshold is not None else None
    if dev_records is not None:
        dev = records_to_columns(dev_records, "dev set")
        if video_level and dev["video_id"] is None:
            raise ValueError("dev set: video_level needs a video_id in every record")
        threshold = (choose_threshold(dev["score"], dev["label"], dev["video_id"], dev["dataset"]) if video_level
                     else choose_threshold(dev["score"], dev["label"]))
        source = "dev_set"
    targets = {
        name: _target_metrics(records_to_columns(records, f"target {name!r}"), name, threshold, video_level)
        for name, records in records_by_target.items()
    }
    return {
        "schema": SCHEMA,
        "model": model,
        "protocol": protocol,
        "level": "video" if video_level else "frame",
        "threshold": None if threshold is None else float(threshold),
        "threshold_source": source,
        "conventions": CONVENTIONS,
        "targets": targets,
        "average": _average(targets),
    }


def load_results(path: str | Path) -> dict:
    """Read a results.json and check its schema; errors name the file."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read results JSON ({error})") from error
    if not isinstance(results, dict) or results.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a {SCHEMA} document (schema={results.get('schema') if isinstance(results, dict) else None!r})")
    missing = [key for key in ("level", "threshold", "targets", "average") if key not in results]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    return results


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def paper_table_markdown(results: dict) -> str:
    """HTER/AUC (%) per target and their average, as in the I-FAS paper, plus the labelled oracle HTER."""
    keys = ("hter", "auc", "hter_oracle")
    rows = [[name] + [_pct(m[k]) for k in keys] for name, m in results["targets"].items()]
    rows.append(["**Average**"] + [f"**{_pct(results['average'][k])}**" for k in keys])
    return _table(["Target", "HTER (%)", "AUC (%)", "Oracle HTER (%)"], rows)


def full_table_markdown(results: dict) -> str:
    """Every scalar metric per target (rates in %), plus the average row."""
    keys = ("auc", "eer", "hter", "hter_oracle", "apcer_max", "bpcer", "acer", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct")
    header = ["Target", "Live", "Spoof", "AUC", "EER", "HTER", "Oracle HTER", "APCER max", "BPCER", "ACER",
              "TPR@FPR=1%", "TPR@FPR=0.1%"]
    rows = [[name, str(m["num_live"]), str(m["num_spoof"])] + [_pct(m[k]) for k in keys]
            for name, m in results["targets"].items()]
    rows.append(["**Average**", "", ""] + [_pct(results["average"].get(k)) for k in keys])
    return _table(header, rows)


def apcer_table_markdown(results: dict, key: str = "apcer_per_species") -> str:
    """APCER (%) per PAI species (or, with ``key="apcer_per_family"``, per attack type) and target at the operating
    threshold; empty string when there is none."""
    attacks = sorted({a for m in results["targets"].values() for a in m[key]})
    if not attacks:
        return ""
    rows = [[name] + [_pct(m[key].get(a)) for a in attacks] for name, m in results["targets"].items()]
    return _table(["Target"] + attacks, rows)


def results_markdown(results: dict) -> str:
    """The results as one Markdown document (results.md)."""
    threshold = results["threshold"]
    operating = (f"Operating threshold: {threshold:.6g} ({results['threshold_source']})." if threshold is not None
                 else "No dev threshold was given: HTER, APCER, BPCER and ACER are not reported (–).")
    parts = [
        f"# FAS results{': ' + results['model'] if results['model'] else ''}",
        f"Protocol: {results['protocol'] or '–'}. Level: {results['level']}. {operating}",
        "Scores are P(live); a sample is accepted as live when score >= threshold. HTER uses the dev-chosen threshold; "
        "Oracle HTER uses each target's own EER threshold (test-set threshold, as in FLIP/SAFAS), for comparison only.",
        "## HTER / AUC per target\n\n" + paper_table_markdown(results),
        "## All metrics (%)\n\n" + full_table_markdown(results),
    ]
    species = apcer_table_markdown(results)
    if species:
        parts.append("## APCER per PAI species (%) (ISO/IEC 30107-3; APCER max is the worst column)\n\n" + species)
    family = apcer_table_markdown(results, "apcer_per_family")
    if family:
        parts.append("## APCER per attack family (%) (extra: pooled over the family's species)\n\n" + family)
    return "\n\n".join(parts) + "\n"


def write_document(document, markdown: str, out_dir: str | Path, stem: str) -> dict[str, Path]:
    """Write `document` as ``<stem>.json`` and `markdown` as ``<stem>.md`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown, encoding="utf-8")
    return paths


def write_tables(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; return their paths."""
    return write_document(results, results_markdown(results), out_dir, "results")
