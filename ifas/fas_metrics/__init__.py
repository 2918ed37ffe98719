"""FAS metrics (AUC, EER, dev-threshold and oracle HTER, ISO/IEC 30107-3 APCER per PAI species/BPCER/ACER, TPR@FPR).

Conventions are documented in `ifas.fas_metrics.fas_metrics`. The folder is also a local `evaluate` module:
``evaluate.load("/abs/path/to/fas_metrics")``.
"""

from .fas_metrics import (
    FPR_TARGETS,
    LABEL_LIVE,
    LABEL_SPOOF,
    aggregate_by_video,
    choose_threshold,
    compute_fas_metrics,
    equal_error_rate,
    log_odds,
    operating_point_metrics,
    pai_species,
    roc_auc,
    species_family,
    tpr_at_fpr,
)

__all__ = [
    "FPR_TARGETS",
    "LABEL_LIVE",
    "LABEL_SPOOF",
    "aggregate_by_video",
    "choose_threshold",
    "compute_fas_metrics",
    "equal_error_rate",
    "log_odds",
    "operating_point_metrics",
    "pai_species",
    "roc_auc",
    "species_family",
    "tpr_at_fpr",
]
