"""The SCF report: kept ratios per corpus and attack type, filter rejection reasons, captions per source.

Input is one *trace* per row: `dataset`, `attack_type`, `caption_source`, and per captioning stage (`general` =
C_G, `spoof_aware` = C_S) the filter's reason (`"kept"`, `"no_family_keyword"`, ...) or None when the stage did
not caption the row.

Example:
    >>> traces = [{"dataset": "msu", "attack_type": "print", "caption_source": "template",
    ...            "general": "no_family_keyword", "spoof_aware": None}]
    >>> build_report(traces)["stages"]["general"]["kept_ratio"]
    0.0
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

STAGES = ("general", "spoof_aware")
STAGE_TITLES = {"general": "C_G (general captioner)", "spoof_aware": "C_S (spoof-aware captioner)"}
JSON_NAME = "scf_report.json"
MARKDOWN_NAME = "scf_report.md"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _summary(traces: list[Mapping]) -> dict:
    summary = {"rows": len(traces)}
    for stage in STAGES:
        reasons = Counter(t[stage] for t in traces if t.get(stage) is not None)
        captioned = sum(reasons.values())
        summary[stage] = {
            "captioned": captioned,
            "kept": reasons["kept"],
            "kept_ratio": _ratio(reasons["kept"], captioned),
            "reasons": dict(sorted(reasons.items())),
        }
    summary["caption_source"] = dict(sorted(Counter(t["caption_source"] for t in traces).items()))
    return summary


def _grouped(traces: list[Mapping], keys: tuple[str, ...]) -> list[dict]:
    groups: dict[tuple, list[Mapping]] = {}
    for trace in traces:
        groups.setdefault(tuple(trace[k] for k in keys), []).append(trace)
    return [dict(zip(keys, key)) | _summary(rows) for key, rows in sorted(groups.items())]


def build_report(traces: Iterable[Mapping], *, settings: Mapping | None = None) -> dict:
    """Totals, per-stage kept ratios and rejection reasons, overall and per (dataset, attack_type)."""
    traces = list(traces)
    total = _summary(traces)
    return {
        "settings": dict(settings or {}),
        "rows": total["rows"],
        "caption_source": total["caption_source"],
        "stages": {stage: total[stage] for stage in STAGES},
        "by_attack_type": _grouped(traces, ("attack_type",)),
        "by_dataset": _grouped(traces, ("dataset",)),
        "by_dataset_and_attack_type": _grouped(traces, ("dataset", "attack_type")),
    }


def _percent(stage: Mapping) -> str:
    if stage["kept_ratio"] is None:
        return "–"
    return f"{100 * stage['kept_ratio']:.1f}% ({stage['kept']}/{stage['captioned']})"


def _group_table(groups: list[dict], keys: tuple[str, ...]) -> list[str]:
    header = [k.replace("_", " ") for k in keys] + ["rows"] + [f"{s} kept" for s in STAGES] + ["caption sources"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        sources = ", ".join(f"{name}: {n}" for name, n in group["caption_source"].items())
        cells = [str(group[k]) for k in keys] + [str(group["rows"])]
        cells += [_percent(group[s]) for s in STAGES] + [sources]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_markdown(report: Mapping) -> str:
    """The report as Markdown tables."""
    lines = ["# SCF captioning report", ""]
    lines += [f"- {key}: `{value}`" for key, value in report["settings"].items()]
    lines += [f"- rows: {report['rows']}", "", "## Captions per source", "", "| caption_source | rows |", "|---|---|"]
    lines += [f"| {name} | {n} |" for name, n in report["caption_source"].items()]
    lines += ["", "## Filter per stage", "", "| stage | captioned | kept | reasons |", "|---|---|---|---|"]
    for stage, stats in report["stages"].items():
        reasons = ", ".join(f"{r}: {n}" for r, n in stats["reasons"].items()) or "–"
        lines.append(f"| {STAGE_TITLES[stage]} | {stats['captioned']} | {_percent(stats)} | {reasons} |")
    lines += ["", "## Per attack type", ""] + _group_table(report["by_attack_type"], ("attack_type",))
    lines += ["", "## Per corpus", ""] + _group_table(report["by_dataset"], ("dataset",))
    lines += ["", "## Per corpus and attack type", ""]
    lines += _group_table(report["by_dataset_and_attack_type"], ("dataset", "attack_type"))
    return "\n".join(lines) + "\n"


def write_report(report: Mapping, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write `scf_report.json` and `scf_report.md` into `directory`; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = directory / JSON_NAME, directory / MARKDOWN_NAME
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    markdown_path.write_text(report_markdown(report))
    return json_path, markdown_path
