"""Face anti-spoofing metrics with stated conventions, as functions and as a local `evaluate` module.

Conventions (every number below follows them):

* Scores are P(live): higher means "more live". Labels follow the data contract: 0 = live (bona fide),
  1 = spoof (attack). Live is the POSITIVE class of the ROC.
* Decision rule: a sample is accepted as live when ``score >= threshold``; tied scores always fall on the
  same side of a threshold.
* Rates are fractions in [0, 1]:
  - FPR = APCER (pooled over all attacks) = FAR = share of spoof samples accepted as live;
  - FNR = BPCER = FRR = share of live samples rejected; TPR = 1 - BPCER = share of live samples accepted.
  - HTER = (APCER + BPCER) / 2 with APCER pooled over all spoofs (the FAS papers' HTER).
  - ISO/IEC 30107-3: APCER per PAI species = share of that species' spoofs accepted as live, where a species is
    ``attack_type`` + ``attack_detail`` (``pai_species``: "print/A4 paper", or "print" without a detail);
    ``apcer_max`` = the worst species (the pooled APCER when no attack types are given); ACER = (apcer_max + BPCER)/2.
  - Extra, not in the standard: ``apcer_per_family``, APCER per attack type (print/replay/mask...) pooled over its
    species; a family's APCER is never above its worst species', so it must not stand in for ``apcer_max``.
* ROC: ``sklearn.metrics.roc_curve(label == 0, score, drop_intermediate=False)``, whose thresholds are the
  distinct observed scores (plus +inf, "accept nothing"); AUC = ``roc_auc_score`` (ties count one half).
* EER: where the linearly interpolated ROC crosses FNR = FPR. EER threshold: the observed score whose ROC point
  has the smallest |FNR - FPR|; on a tie the higher (stricter) threshold wins. It is never +inf.
* HTER (headline, key ``hter``): at a threshold chosen on a DEV set (``choose_threshold``: the dev set's EER
  threshold moved to the log-odds middle of the gap to the next lower dev score, so every dev decision is the
  same) or given as ``dev_threshold``. With no dev information it is None: the test threshold is never
  used silently.
* Oracle HTER (key ``hter_oracle``): HTER at the TEST set's own EER threshold, the FLIP/SAFAS convention;
  optimistic, reported only for comparison with those papers. It equals the EER up to the ROC's step size.
* TPR@FPR=x: the largest TPR (live accepted) among ROC thresholds whose FPR (spoofs accepted as live) is <= x,
  without interpolation; its resolution is 1 / number of spoofs (0 spoofs allowed when x * n_spoof < 1).
* Video level (``video_level=True``): frame scores are averaged per video first (FLIP); a video is the pair
  ``(dataset, video_id)`` when ``datasets`` are given, so two corpora sharing an id stay two videos. All frames of
  a video must share one label (and PAI species). The dev set is aggregated the same way.
* A set with only one class: AUC, EER, oracle HTER and TPR@FPR raise ValueError (so does
  ``compute_fas_metrics``); ``operating_point_metrics`` still gives APCER (all-spoof set) or BPCER (all-live set).

Example:
    >>> from ifas.fas_metrics import compute_fas_metrics
    >>> m = compute_fas_metrics([0.9, 0.8, 0.3, 0.1], [0, 0, 1, 1], dev_threshold=0.5)
    >>> m["auc"], m["eer"], m["hter"], m["hter_oracle"]
    (1.0, 0.0, 0.0, 0.0)

    >>> import evaluate
    >>> metric = evaluate.load("/abs/path/to/fas_metrics")  # doctest: +SKIP
    >>> metric.compute(predictions=[0.9, 0.8, 0.3, 0.1], references=[0, 0, 1, 1])["auc"]  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

LABEL_LIVE = 0
LABEL_SPOOF = 1
NO_ATTACK = "none"
SPECIES_SEPARATOR = "/"
FPR_TARGETS = {"tpr_at_fpr_1pct": 1e-2, "tpr_at_fpr_0.1pct": 1e-3}


def _as_scores_labels(scores, labels, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    prefix = f"{where}: " if where else ""
    if scores.shape != labels.shape:
        raise ValueError(f"{prefix}{scores.size} scores but {labels.size} labels")
    if scores.size == 0:
        raise ValueError(f"{prefix}no samples")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{prefix}{int(np.sum(~np.isfinite(scores)))} scores are NaN or infinite")
    bad = ~np.isin(labels, (LABEL_LIVE, LABEL_SPOOF))
    if bad.any():
        raise ValueError(f"{prefix}labels must be 0 (live) or 1 (spoof); found {sorted(set(labels[bad].tolist()))[:5]}")
    return scores, labels.astype(np.int64)


def _require_both_classes(labels: np.ndarray, what: str) -> None:
    n_live = int(np.sum(labels == LABEL_LIVE))
    n_spoof = labels.size - n_live
    if n_live == 0 or n_spoof == 0:
        raise ValueError(
            f"{what} needs both live and spoof samples; got {n_live} live and {n_spoof} spoof. "
            "For APCER/BPCER at a fixed threshold use operating_point_metrics(scores, labels, threshold)."
        )


def pai_species(attack_types, attack_details=None) -> np.ndarray:
    """The PAI species of each sample: ``attack_type/attack_detail``, or the bare type when the detail is empty.

    >>> pai_species(["print", "print", "none"], ["A4 paper", "", ""]).tolist()
    ['print/A4 paper', 'print', 'none']
    """
    attack_types = np.asarray(attack_types, dtype=object).reshape(-1)
    if attack_details is None:
        return attack_types.astype(str).astype(object)
    attack_details = np.asarray(attack_details, dtype=object).reshape(-1)
    if attack_details.size != attack_types.size:
        raise ValueError(f"{attack_types.size} attack_types but {attack_details.size} attack_details")
    return np.array([f"{t}{SPECIES_SEPARATOR}{d}" if d not in (None, "") else str(t)
                     for t, d in zip(attack_types, attack_details)], dtype=object)


def species_family(species: str) -> str:
    """The attack type (family) of a PAI species: ``species_family("print/A4 paper") == "print"``."""
    return species.split(SPECIES_SEPARATOR, 1)[0]


def aggregate_by_video(scores, labels, video_ids, attack_types=None, *, datasets=None):
    """Average frame scores per video; return ``(scores, labels, video_ids, attack_types)`` arrays.

    A video is ``(dataset, video_id)`` when `datasets` is given, else ``video_id``. `attack_types` may hold PAI
    species (`pai_species`). Videos keep the order of their first frame. Raises ValueError when a video mixes
    labels or attack types.

    >>> aggregate_by_video([0.25, 0.75, 0.9], [1, 1, 0], ["a", "a", "b"])[0].tolist()
    [0.5, 0.9]
    >>> aggregate_by_video([0.25, 0.75], [1, 1], ["a", "a"], datasets=["msu", "casia"])[0].tolist()
    [0.25, 0.75]
    """
    scores, labels = _as_scores_labels(scores, labels, "aggregate_by_video")
    video_ids = np.asarray(video_ids, dtype=object).reshape(-1)
    if video_ids.size != scores.size:
        raise ValueError(f"aggregate_by_video: {scores.size} scores but {video_ids.size} video_ids")
    keys = video_ids.astype(str)
    if datasets is not None:
        datasets = np.asarray(datasets, dtype=object).reshape(-1)
        if datasets.size != scores.size:
            raise ValueError(f"aggregate_by_video: {scores.size} scores but {datasets.size} datasets")
        keys = np.array([f"{d}\x00{v}" for d, v in zip(datasets, keys)])
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    group = rank[inverse]
    counts = np.bincount(group)
    video_scores = np.bincount(group, weights=scores) / counts
    video_labels = labels[first[order]]
    mixed = video_labels[group] != labels
    if attack_types is not None:
        attack_types = np.asarray(attack_types, dtype=object).reshape(-1)
        if attack_types.size != scores.size:
            raise ValueError(f"aggregate_by_video: {scores.size} scores but {attack_types.size} attack_types")
        video_attacks = attack_types[first[order]]
        mixed |= video_attacks[group] != attack_types
    else:
        video_attacks = None
    if mixed.any():
        where = f" of dataset {datasets[np.argmax(mixed)]!r}" if datasets is not None else ""
        raise ValueError(f"aggregate_by_video: video {video_ids[np.argmax(mixed)]!r}{where} mixes labels or attack types")
    return video_scores, video_labels, video_ids[first[order]], video_attacks


def _roc(scores: np.ndarray, labels: np.ndarray):
    fpr, tpr, thresholds = roc_curve(labels == LABEL_LIVE, scores, drop_intermediate=False)
    return fpr, tpr, thresholds


def roc_auc(scores, labels) -> float:
    """ROC AUC with live as the positive class (1.0 = every live scores above every spoof)."""
    scores, labels = _as_scores_labels(scores, labels, "roc_auc")
    _require_both_classes(labels, "AUC")
    return float(roc_auc_score(labels == LABEL_LIVE, scores))


def _eer_from_roc(fpr, tpr, thresholds) -> tuple[float, float, int]:
    gap = (1.0 - tpr) - fpr  # FNR - FPR: 1 at +inf, non-increasing, -1 at the lowest score
    k = int(np.argmax(gap <= 0))
    if gap[k] == 0:
        eer = float(fpr[k])
    else:
        weight = gap[k - 1] / (gap[k - 1] - gap[k])
        eer = float(fpr[k - 1] + weight * (fpr[k] - fpr[k - 1]))
    best = k - 1 if k > 1 and abs(gap[k - 1]) <= abs(gap[k]) else k
    return eer, float(thresholds[best]), best


def equal_error_rate(scores, labels) -> tuple[float, float]:
    """Return ``(eer, eer_threshold)``; see the module docstring for the exact rule.

    >>> equal_error_rate([0.9, 0.6, 0.7, 0.1], [0, 0, 1, 1])
    (0.5, 0.7)
    """
    scores, labels = _as_scores_labels(scores, labels, "equal_error_rate")
    _require_both_classes(labels, "EER")
    eer, threshold, _ = _eer_from_roc(*_roc(scores, labels))
    return eer, threshold


def log_odds(p) -> np.ndarray:
    """log(p / (1 - p)), with 0 and 1 clipped to the nearest floats inside (0, 1) so the result stays finite.

    >>> float(log_odds(0.5)), bool(np.isfinite(log_odds(1.0)))
    (0.0, True)
    """
    p = np.clip(np.asarray(p, dtype=np.float64), np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
    return np.log(p) - np.log1p(-p)


def gap_midpoint(upper: float, lower: float) -> float:
    """A threshold strictly inside the gap between two observed scores ``lower < upper``, so that ``>=`` decides
    every observed score as ``upper`` would: the log-odds midpoint for probabilities (the midpoint of the Yes/No
    logit margins, so a live face below P(live) saturation is not rejected), else the plain midpoint.

    >>> round(gap_midpoint(0.9, 0.1), 12), gap_midpoint(4.0, 2.0)
    (0.5, 3.0)
    >>> 0.0 < gap_midpoint(1.0, 0.0) < 1.0
    True
    """
    if 0.0 <= lower < upper <= 1.0:
        mid = float(log_odds(np.array([upper, lower])).mean())
        candidate = float(1.0 / (1.0 + np.exp(-mid)))
    else:
        candidate = (upper + lower) / 2
    return candidate if lower < candidate <= upper else upper


def choose_threshold(dev_scores, dev_labels, dev_video_ids=None, dev_datasets=None) -> float:
    """The operating threshold of a dev set (video level when ``dev_video_ids`` is given; videos are
    ``(dataset, video_id)`` when ``dev_datasets`` is given too): its EER threshold, moved to the middle of the gap
    below it (``gap_midpoint`` with the next lower dev score), which decides every dev sample the same way but sits
    between the classes rather than on the lowest accepted score. Scores that are probabilities give a threshold
    strictly inside (0, 1).

    >>> choose_threshold([0.999, 0.99, 0.2, 0.1], [0, 0, 1, 1]) == gap_midpoint(0.99, 0.2)
    True
    """
    if dev_video_ids is not None:
        dev_scores, dev_labels, _, _ = aggregate_by_video(dev_scores, dev_labels, dev_video_ids, datasets=dev_datasets)
    scores, labels = _as_scores_labels(dev_scores, dev_labels, "choose_threshold")
    threshold = equal_error_rate(scores, labels)[1]
    below = scores[scores < threshold]
    return gap_midpoint(threshold, float(below.max())) if below.size else threshold


def tpr_at_fpr(scores, labels, max_fpr: float) -> float:
    """Largest TPR (live accepted) whose FPR (spoofs accepted as live) is <= ``max_fpr``; no interpolation."""
    scores, labels = _as_scores_labels(scores, labels, "tpr_at_fpr")
    _require_both_classes(labels, "TPR@FPR")
    fpr, tpr, _ = _roc(scores, labels)
    return float(tpr[fpr <= max_fpr].max())


def operating_point_metrics(scores, labels, threshold: float, attack_types=None, attack_details=None) -> dict:
    """APCER (pooled, per PAI species, per family), BPCER, ACER and HTER at ``threshold`` (accept if score >= it).

    The species are ``pai_species(attack_types, attack_details)``; ``apcer_max`` is the worst species. Defined on
    one-class sets: a rate whose class is absent is None, and so are HTER/ACER.

    >>> point = operating_point_metrics([0.9, 0.2, 0.3], [1, 1, 1], 0.5, ["print"] * 3, ["A4", "A4", "photo"])
    >>> point["apcer_per_species"], point["apcer_per_family"], point["apcer_max"]
    ({'print/A4': 0.5, 'print/photo': 0.0}, {'print': 0.3333333333333333}, 0.5)
    """
    scores, labels = _as_scores_labels(scores, labels, "operating_point_metrics")
    accepted = scores >= threshold
    spoof = labels == LABEL_SPOOF
    live = ~spoof
    apcer = float(accepted[spoof].mean()) if spoof.any() else None
    bpcer = float(1.0 - accepted[live].mean()) if live.any() else None
    per_species, per_family = {}, {}
    if attack_types is not None:
        attack_types = np.asarray(attack_types, dtype=object).reshape(-1)
        if attack_types.size != scores.size:
            raise ValueError(f"operating_point_metrics: {scores.size} scores but {attack_types.size} attack_types")
        wrong = spoof == (attack_types == NO_ATTACK)
        if wrong.any():
            i = int(np.argmax(wrong))
            raise ValueError(f"sample {i}: label {labels[i]} contradicts attack_type {attack_types[i]!r}")
        species = pai_species(attack_types, attack_details)
        for name in sorted(set(species[spoof].tolist())):
            per_species[name] = float(accepted[species == name].mean())
        for family in sorted(set(attack_types[spoof].tolist())):
            per_family[family] = float(accepted[attack_types == family].mean())
    apcer_max = max(per_species.values()) if per_species else apcer
    both = apcer is not None and bpcer is not None
    return {
        "threshold": float(threshold),
        "apcer": apcer,
        "apcer_per_species": per_species,
        "apcer_per_family": per_family,
        "apcer_max": apcer_max,
        "bpcer": bpcer,
        "acer": (apcer_max + bpcer) / 2 if both else None,
        "hter": (apcer + bpcer) / 2 if both else None,
    }


def _dev_threshold(dev_threshold, dev_predictions, dev_references, dev_video_ids, dev_datasets, video_level):
    if dev_threshold is not None and dev_predictions is not None:
        raise ValueError("give either dev_threshold or dev_predictions/dev_references, not both")
    if dev_threshold is not None:
        if not np.isfinite(dev_threshold):
            raise ValueError(f"dev_threshold must be finite, got {dev_threshold!r}")
        return float(dev_threshold), "dev_threshold"
    if dev_predictions is None:
        return None, None
    if dev_references is None:
        raise ValueError("dev_predictions needs dev_references")
    if video_level and dev_video_ids is None:
        raise ValueError("video_level=True needs dev_video_ids so the dev threshold is chosen on video scores too")
    if not video_level:
        return choose_threshold(dev_predictions, dev_references), "dev_set"
    return choose_threshold(dev_predictions, dev_references, dev_video_ids, dev_datasets), "dev_set"


def compute_fas_metrics(
    predictions: Sequence[float],
    references: Sequence[int],
    *,
    video_ids: Sequence[str] | None = None,
    attack_types: Sequence[str] | None = None,
    attack_details: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    video_level: bool = False,
    dev_threshold: float | None = None,
    dev_predictions: Sequence[float] | None = None,
    dev_references: Sequence[int] | None = None,
    dev_video_ids: Sequence[str] | None = None,
    dev_datasets: Sequence[str] | None = None,
) -> dict:
    """All FAS metrics of one test set; keys and conventions are in the module docstring.

    Returns a JSON-ready dict: ``level, num_samples, num_live, num_spoof, auc, eer, eer_threshold, hter_oracle,
    tpr_at_fpr_1pct, tpr_at_fpr_0.1pct, threshold, threshold_source`` and, at ``threshold``, ``hter, apcer,
    apcer_per_species, apcer_per_family, apcer_max, bpcer, acer`` (None, and the per-species/per-family dicts empty,
    when no dev information is given). Videos are ``(dataset, video_id)`` when ``datasets`` is given.
    """
    scores, labels = _as_scores_labels(predictions, references, "compute_fas_metrics")
    if video_level:
        if video_ids is None:
            raise ValueError("video_level=True needs video_ids")
        species = None if attack_types is None else pai_species(attack_types, attack_details)
        scores, labels, _, species = aggregate_by_video(scores, labels, video_ids, species, datasets=datasets)
        if species is not None:
            attack_types = np.array([species_family(name) for name in species], dtype=object)
            attack_details = np.array([name[len(family) + 1:] for name, family in zip(species, attack_types)],
                                      dtype=object)
    _require_both_classes(labels, "compute_fas_metrics (AUC, EER, oracle HTER, TPR@FPR)")
    threshold, source = _dev_threshold(dev_threshold, dev_predictions, dev_references, dev_video_ids, dev_datasets,
                                       video_level)

    fpr, tpr, thresholds = _roc(scores, labels)
    eer, eer_threshold, eer_index = _eer_from_roc(fpr, tpr, thresholds)
    results = {
        "level": "video" if video_level else "frame",
        "num_samples": int(labels.size),
        "num_live": int(np.sum(labels == LABEL_LIVE)),
        "num_spoof": int(np.sum(labels == LABEL_SPOOF)),
        "auc": float(roc_auc_score(labels == LABEL_LIVE, scores)),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "hter_oracle": float((fpr[eer_index] + 1.0 - tpr[eer_index]) / 2),
        **{key: float(tpr[fpr <= target].max()) for key, target in FPR_TARGETS.items()},
        "threshold": threshold,
        "threshold_source": source,
    }
    if threshold is None:
        results.update(apcer=None, apcer_per_species={}, apcer_per_family={}, apcer_max=None, bpcer=None, acer=None,
                       hter=None)
    else:
        point = operating_point_metrics(scores, labels, threshold, attack_types, attack_details)
        results.update({key: value for key, value in point.items() if key != "threshold"})
    return results


_INPUTS = """
Args:
    predictions (list of float): P(live) per sample (frame).
    references (list of int): 0 = live, 1 = spoof (the ifas data contract).
    video_ids (list of str, optional): video of each sample; needed for video_level.
    attack_types (list of str, optional): attack type per sample ("none" for live), the family of its PAI species.
    attack_details (list of str, optional): attack detail per sample; with attack_types it names the PAI species.
    datasets (list of str, optional): corpus of each sample; a video is (dataset, video_id).
    video_level (bool): average frame scores per video first.
    dev_threshold (float, optional) or dev_predictions/dev_references[/dev_video_ids/dev_datasets]: the threshold.
Returns: the dict of compute_fas_metrics (auc, eer, eer_threshold, hter, hter_oracle, apcer_* (per species and per
family), bpcer, acer, tpr_at_fpr_*).
"""


class FasMetrics(evaluate.Metric):
    """`evaluate` wrapper of `compute_fas_metrics`: video_ids/attack_types/dev_* are `compute` keyword arguments."""

    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="ISO/IEC 30107-3:2023 Biometric presentation attack detection - Part 3: Testing and reporting.",
            inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}),
            reference_urls=["https://www.iso.org/standard/79520.html"],
        )

    def _compute(self, predictions, references, **kwargs):
        return compute_fas_metrics(predictions, references, **kwargs)
