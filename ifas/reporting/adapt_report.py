"""The report of `ifas adapt`: `adapt_report.json`, `adapt_report.md` and a before/after histogram of the check part's
Yes/No logit margins (log-odds of P(live), where saturated probabilities stay apart).

Example:
    >>> write_adapt_report(report, "outputs/adapted")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ifas.fas_metrics import LABEL_LIVE, log_odds  # noqa: E402

HISTOGRAM = "adapt_histograms.png"


def write_histograms(report: Mapping, path: Path) -> Path:
    """Two panels, before and after: margins of live and of each attack type, the threshold as a line."""
    labels = np.asarray(report["check_labels"])
    attacks = np.asarray(report["check_attack_types"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, when, threshold in ((axes[0], "before", report["threshold_before"]), (axes[1], "after", report["threshold"])):
        margins = np.asarray(report[when]["margins"], dtype=np.float64)
        cut = float(log_odds(threshold))
        bins = np.linspace(min(margins.min(), cut) - 1, max(margins.max(), cut) + 1, 31)
        live = labels == LABEL_LIVE
        ax.hist(margins[live], bins=bins, alpha=0.5, label=f"live (n={live.sum()})")
        for attack in sorted(set(attacks[~live].tolist())):
            mask = attacks == attack
            ax.hist(margins[mask], bins=bins, histtype="step", linewidth=1.5, label=f"{attack} (n={mask.sum()})")
        ax.axvline(cut, color="k", label=f"threshold P(live) {threshold:.6g}")
        ax.set_title(f"{when}: AUC {report[when]['auc']:.3f}, HTER {100 * report[when]['hter']:.1f}%")
        ax.set_xlabel("Yes/No logit margin = log-odds of P(live)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("check captures")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def report_markdown(report: Mapping) -> str:
    counts, training = report["counts"], report["training"]
    rows = [f"| {when} | {report[when]['auc']:.4f} | {_pct(report[when]['hter'])} | {_pct(report[when]['apcer'])} | "
            f"{_pct(report[when]['bpcer'])} | {report[when]['threshold']:.6g} |" for when in ("before", "after")]
    lines = [
        "# ifas adapt report", "",
        f"Checkpoint `{report['checkpoint']}` adapted into `{report['out']}` in {report['minutes']:.1f} min "
        f"({training['steps']} of {training['max_steps']} steps"
        f"{', stopped by the time budget' if training['stopped_by_time_budget'] else ''}).", "",
        f"- Adaptation part: {counts['adaptation']['live']} live + {counts['adaptation']['spoof']} spoof crops "
        f"({counts['adaptation']['unusable']} captures unusable). The threshold is set from this part only.",
        f"- Check part (never trained on, never used for the threshold): {counts['check']['live']} live + "
        f"{counts['check']['spoof']} spoof crops ({counts['check']['unusable']} unusable). "
        "The file lists are in `adapt_split.json`.", "",
        "| on the check part | AUC | HTER % | APCER % | BPCER % | threshold (P(live)) |", "|---|---|---|---|---|---|",
        *rows, "",
        f"![before and after]({HISTOGRAM})", "",
    ]
    if report["unusable"]:
        lines += ["## Unusable captures", "", *[f"- `{item['path']}`: {item['error']}" for item in report["unusable"]],
                  ""]
    if report["answers"]:
        lines += ["## Answers of the adapted model on check captures", "",
                  "| capture | truth | judgment | P(live) | explanation |", "|---|---|---|---|---|"]
        for answer in report["answers"]:
            truth = "live" if answer["label"] == LABEL_LIVE else answer["attack_type"]
            lines.append(f"| `{Path(answer['path']).name}` | {truth} | {answer['judgment']} | {answer['p_live']:.4g} | "
                         f"{answer['explanation']} |")
    return "\n".join(lines) + "\n"


def write_adapt_report(report: Mapping, out_dir: str | Path) -> dict[str, Path]:
    """Write the JSON, the Markdown and the histogram PNG into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "adapt_report.json", "markdown": out_dir / "adapt_report.md",
             "histograms": out_dir / HISTOGRAM}
    paths["json"].write_text(json.dumps(report, indent=1))
    paths["markdown"].write_text(report_markdown(report))
    write_histograms(report, paths["histograms"])
    return paths
