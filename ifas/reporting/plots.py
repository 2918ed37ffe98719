"""ROC and DET curves and score histograms as PNG (matplotlib Agg): one figure per target plus overlays.

Curves use live as the positive class: ROC plots TPR (live accepted) against FPR = APCER (spoofs accepted as live);
DET plots BPCER against APCER on normal-deviate axes. The level (frame/video) and the thresholds come from the
results document of `ifas.reporting.tables.build_results`, so plots and tables always describe the same numbers.

Example:
    >>> paths = write_plots(records_by_target, "report/", results)  # doctest: +SKIP
    >>> sorted(p.name for p in paths)[:2]  # doctest: +SKIP
    ['det_all.png', 'det_msu.png']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import DetCurveDisplay, RocCurveDisplay  # noqa: E402

from ifas.fas_metrics import LABEL_LIVE, aggregate_by_video, log_odds  # noqa: E402
from ifas.reporting.tables import records_to_columns  # noqa: E402

APCER_LABEL = "APCER = FPR (spoof accepted as live)"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "target"


def _level_arrays(records: Sequence[Mapping], target: str, video_level: bool):
    columns = records_to_columns(records, f"target {target!r}")
    scores, labels, attacks = columns["score"], columns["label"], columns["attack_type"]
    if video_level:
        scores, labels, _, attacks = aggregate_by_video(
            scores, labels, columns["video_id"], attacks, datasets=columns["dataset"])
    return scores, labels, attacks


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _roc(ax, scores, labels, name: str) -> None:
    RocCurveDisplay.from_predictions(labels == LABEL_LIVE, scores, pos_label=True, name=name, ax=ax)
    ax.set_xlabel(APCER_LABEL)
    ax.set_ylabel("TPR = 1 - BPCER (live accepted)")


def _det(ax, scores, labels, name: str) -> None:
    DetCurveDisplay.from_predictions(labels == LABEL_LIVE, scores, pos_label=True, name=name, ax=ax)
    ax.set_xlabel(APCER_LABEL)
    ax.set_ylabel("BPCER = FNR (live rejected)")


def _histogram(ax, scores, labels, attacks, metrics: dict, threshold: float | None) -> None:
    """Scores per class; probabilities on their log-odds (the Yes/No logit margin for I-FAS), where a confident
    model's 0.9999 and 0.99999999 stay apart instead of piling up at 1."""
    probabilities = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
    axis = log_odds if probabilities else np.asarray
    values = axis(scores)
    bins = np.linspace(values.min(), values.max(), 41) if values.max() > values.min() else 41
    live = labels == LABEL_LIVE
    ax.hist(values[live], bins=bins, alpha=0.5, label=f"live (n={live.sum()})")
    groups = sorted(set(attacks[~live].tolist())) if attacks is not None else ["spoof"]
    for group in groups:
        mask = ~live if attacks is None else attacks == group
        ax.hist(values[mask], bins=bins, histtype="step", linewidth=1.5, label=f"{group} (n={mask.sum()})")
    for value, style, name in ((threshold, "-", "dev threshold"), (metrics["eer_threshold"], "--", "oracle EER threshold")):
        if value is not None:
            ax.axvline(float(axis(value)), color="k", linestyle=style, label=f"{name} {value:.8g}")
    ax.set_xlabel("log-odds of P(live) = Yes/No logit margin" if probabilities else "score")
    ax.set_ylabel("samples")
    ax.legend(fontsize="small")


def write_plots(records_by_target: Mapping[str, Sequence[Mapping]], out_dir: str | Path, results: dict) -> list[Path]:
    """Write ``roc_<target>.png``, ``det_<target>.png``, ``hist_<target>.png``, ``roc_all.png``, ``det_all.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slugs = {name: _slug(name) for name in records_by_target}
    if len(set(slugs.values())) != len(slugs):
        raise ValueError(f"target names collide as file names: {slugs}")
    missing = [name for name in records_by_target if name not in results["targets"]]
    if missing:
        raise ValueError(f"targets {missing} are not in the results document")
    video_level = results["level"] == "video"
    level = f"{results['level']} level"
    roc_fig, roc_ax = plt.subplots(figsize=(6, 6))
    det_fig, det_ax = plt.subplots(figsize=(6, 6))
    paths = []
    for name, records in records_by_target.items():
        scores, labels, attacks = _level_arrays(records, name, video_level)
        for draw, kind in ((_roc, "roc"), (_det, "det")):
            fig, ax = plt.subplots(figsize=(6, 6))
            draw(ax, scores, labels, name)
            ax.set_title(f"{kind.upper()} - {name} ({level})")
            paths.append(_save(fig, out_dir / f"{kind}_{slugs[name]}.png"))
        _roc(roc_ax, scores, labels, name)
        _det(det_ax, scores, labels, name)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        _histogram(ax, scores, labels, attacks, results["targets"][name], results["threshold"])
        ax.set_title(f"Scores - {name} ({level})")
        paths.append(_save(fig, out_dir / f"hist_{slugs[name]}.png"))
    roc_ax.set_title(f"ROC - all targets ({level})")
    det_ax.set_title(f"DET - all targets ({level})")
    paths.append(_save(roc_fig, out_dir / "roc_all.png"))
    paths.append(_save(det_fig, out_dir / "det_all.png"))
    return paths
