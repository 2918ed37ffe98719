"""FAS metric values against hand-computed cases, conventions, and the offline `evaluate.load` of the folder."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ifas.fas_metrics  # noqa: E402
from datasets_scripts.contract import LABEL_LIVE, LABEL_SPOOF  # noqa: E402
from ifas.fas_metrics import (  # noqa: E402
    aggregate_by_video,
    choose_threshold,
    compute_fas_metrics,
    equal_error_rate,
    operating_point_metrics,
    roc_auc,
    tpr_at_fpr,
)

# Known ROC: live 0.9 0.8 0.6 0.4, spoof 0.7 0.5 0.3 0.2 (13 of 16 live-spoof pairs ordered right).
KNOWN_SCORES = [0.9, 0.8, 0.6, 0.4, 0.7, 0.5, 0.3, 0.2]
KNOWN_LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
KNOWN_ATTACKS = ["none"] * 4 + ["print", "replay", "print", "mask"]


def test_labels_follow_the_data_contract():
    assert (ifas.fas_metrics.LABEL_LIVE, ifas.fas_metrics.LABEL_SPOOF) == (LABEL_LIVE, LABEL_SPOOF)


def test_known_roc():
    m = compute_fas_metrics(KNOWN_SCORES, KNOWN_LABELS, attack_types=KNOWN_ATTACKS, dev_threshold=0.45)
    assert m["auc"] == pytest.approx(13 / 16)
    # ROC points (FPR, TPR): the point at threshold 0.6 is (0.25, 0.75), on the FNR = FPR diagonal.
    assert m["eer"] == pytest.approx(0.25) and m["eer_threshold"] == 0.6
    assert m["hter_oracle"] == pytest.approx(0.25)
    assert m["tpr_at_fpr_1pct"] == m["tpr_at_fpr_0.1pct"] == pytest.approx(0.5)
    # Threshold 0.45 accepts live 0.9 0.8 0.6 and spoofs 0.7 (print), 0.5 (replay).
    assert m["threshold"] == 0.45 and m["threshold_source"] == "dev_threshold"
    assert m["bpcer"] == pytest.approx(0.25) and m["apcer"] == pytest.approx(0.5)
    assert m["hter"] == pytest.approx(0.375)
    assert m["apcer_per_species"] == m["apcer_per_family"] == {"mask": 0.0, "print": 0.5, "replay": 1.0}
    assert m["apcer_max"] == 1.0 and m["acer"] == pytest.approx(0.625)
    assert (m["num_samples"], m["num_live"], m["num_spoof"], m["level"]) == (8, 4, 4, "frame")


def test_eer_interpolates_between_roc_points_while_oracle_hter_uses_a_real_threshold():
    # ROC (FPR, FNR): (1/3, 1/2) at 0.7 then (1/3, 0) at 0.6: the diagonal is crossed at 1/3.
    scores, labels = [0.9, 0.6, 0.7, 0.1, 0.05], [0, 0, 1, 1, 1]
    assert equal_error_rate(scores, labels) == (pytest.approx(1 / 3), 0.7)
    m = compute_fas_metrics(scores, labels)
    assert m["hter_oracle"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_ties_count_half_in_auc_and_fall_on_the_accept_side():
    scores, labels = [0.5, 0.5, 0.9, 0.5, 0.1], [0, 0, 0, 1, 1]
    assert roc_auc(scores, labels) == pytest.approx(5 / 6)
    eer, threshold = equal_error_rate(scores, labels)
    assert threshold == 0.5 and eer == pytest.approx(2 / 7)
    point = operating_point_metrics(scores, labels, 0.5)
    assert point["bpcer"] == 0.0 and point["apcer"] == 0.5 and point["hter"] == 0.25


def test_equally_close_roc_points_pick_the_stricter_threshold():
    # |FNR - FPR| is 0.25 at both 0.7 and 0.6: the higher threshold wins.
    scores, labels = [0.9, 0.8, 0.7, 0.2, 0.6, 0.1], [0, 0, 0, 0, 1, 1]
    assert equal_error_rate(scores, labels) == (pytest.approx(0.25), 0.7)


def test_perfect_and_inverted_scorers():
    scores, labels = [0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]
    perfect = compute_fas_metrics(scores, labels, dev_threshold=0.5)
    assert (perfect["auc"], perfect["eer"], perfect["hter"], perfect["hter_oracle"]) == (1.0, 0.0, 0.0, 0.0)
    assert perfect["tpr_at_fpr_0.1pct"] == 1.0 and perfect["eer_threshold"] == 0.8
    inverted = compute_fas_metrics(scores, [1, 1, 0, 0], dev_threshold=0.5)
    assert (inverted["auc"], inverted["eer"], inverted["hter"], inverted["hter_oracle"]) == (0.0, 1.0, 1.0, 1.0)
    assert inverted["tpr_at_fpr_1pct"] == 0.0


def test_polarity_scores_are_p_live_and_live_is_positive():
    p_live = np.array(KNOWN_SCORES)
    assert roc_auc(p_live, KNOWN_LABELS) == pytest.approx(13 / 16)
    assert roc_auc(1 - p_live, KNOWN_LABELS) == pytest.approx(3 / 16)
    assert compute_fas_metrics(1 - p_live, KNOWN_LABELS)["eer"] == pytest.approx(0.75)


def test_constant_scorer_gives_a_finite_threshold():
    eer, threshold = equal_error_rate([0.5] * 4, [0, 0, 1, 1])
    assert eer == 0.5 and threshold == 0.5


def test_tpr_at_fpr_has_the_resolution_of_the_spoof_count():
    rng = np.random.default_rng(0)
    live, spoof = rng.uniform(0.2, 1, 500), np.linspace(0, 0.5, 200)
    scores = np.concatenate([live, spoof])
    labels = np.r_[np.zeros(500, int), np.ones(200, int)]
    # 1% of 200 spoofs = 2 spoofs may be accepted: every live score above the 3rd-highest spoof counts.
    assert tpr_at_fpr(scores, labels, 0.01) == pytest.approx(np.mean(live > spoof[-3]))
    # 0.1% of 200 < 1 spoof: no spoof may be accepted.
    assert tpr_at_fpr(scores, labels, 0.001) == pytest.approx(np.mean(live > spoof[-1]))


def test_one_class_set_errors_for_auc_eer_and_defines_fixed_threshold_rates():
    scores, labels, attacks = [0.9, 0.4, 0.1], [1, 1, 1], ["print", "replay", "replay"]
    for needs_both in (roc_auc, equal_error_rate, compute_fas_metrics):
        with pytest.raises(ValueError, match="both live and spoof"):
            needs_both(scores, labels)
    with pytest.raises(ValueError, match="both live and spoof"):
        tpr_at_fpr(scores, labels, 0.01)
    point = operating_point_metrics(scores, labels, 0.5, attacks)
    assert point["apcer"] == pytest.approx(1 / 3) and point["apcer_per_species"] == {"print": 1.0, "replay": 0.0}
    assert point["apcer_max"] == 1.0 and point["bpcer"] is None and point["hter"] is None and point["acer"] is None
    live_only = operating_point_metrics([0.9, 0.3], [0, 0], 0.5)
    assert live_only["bpcer"] == 0.5 and live_only["apcer"] is None and live_only["apcer_max"] is None


def test_video_aggregation_averages_frames_per_video():
    scores = [0.9, 0.7, 0.2, 0.4, 0.6, 0.65]
    labels = [0, 0, 1, 1, 1, 1]
    videos = ["live1", "live1", "print1", "print1", "replay1", "replay1"]
    attacks = ["none", "none", "print", "print", "replay", "replay"]
    v_scores, v_labels, v_ids, v_attacks = aggregate_by_video(scores, labels, videos, attacks)
    assert v_scores == pytest.approx([0.8, 0.3, 0.625]) and v_labels.tolist() == [0, 1, 1]
    assert v_ids.tolist() == ["live1", "print1", "replay1"] and v_attacks.tolist() == ["none", "print", "replay"]
    m = compute_fas_metrics(scores, labels, video_ids=videos, attack_types=attacks, video_level=True, dev_threshold=0.5)
    assert m["level"] == "video" and m["num_samples"] == 3 and m["auc"] == 1.0
    assert m["apcer_per_species"] == {"print": 0.0, "replay": 1.0}
    frame = compute_fas_metrics(scores, labels, video_ids=videos)
    assert frame["level"] == "frame" and frame["num_samples"] == 6


# Two PAI species per family: live 0.9 0.8 0.6 0.3; print/A4 0.7 0.2, print/glossy 0.55 0.6,
# replay/phone 0.1 0.4, replay/tablet 0.45 0.05.
SPECIES_SCORES = [0.9, 0.8, 0.6, 0.3, 0.7, 0.2, 0.55, 0.6, 0.1, 0.4, 0.45, 0.05]
SPECIES_LABELS = [0] * 4 + [1] * 8
SPECIES_TYPES = ["none"] * 4 + ["print"] * 4 + ["replay"] * 4
SPECIES_DETAILS = [""] * 4 + ["A4", "A4", "glossy", "glossy", "phone", "phone", "tablet", "tablet"]


def test_apcer_is_per_pai_species_and_apcer_max_is_the_worst_species():
    m = compute_fas_metrics(SPECIES_SCORES, SPECIES_LABELS, attack_types=SPECIES_TYPES,
                            attack_details=SPECIES_DETAILS, dev_threshold=0.5)
    # Accepted (>= 0.5): live 0.9 0.8 0.6 (BPCER 1/4); print/A4 0.7 (1/2); print/glossy 0.55 0.6 (2/2); replay none.
    assert m["apcer_per_species"] == {"print/A4": 0.5, "print/glossy": 1.0, "replay/phone": 0.0,
                                      "replay/tablet": 0.0}
    assert m["apcer_per_family"] == {"print": 0.75, "replay": 0.0}  # the extra table: pooled over species
    assert m["apcer"] == pytest.approx(3 / 8) and m["bpcer"] == pytest.approx(0.25)
    assert m["apcer_max"] == 1.0  # the worst species, not the worst family (0.75)
    assert m["acer"] == pytest.approx((1.0 + 0.25) / 2) and m["hter"] == pytest.approx((3 / 8 + 0.25) / 2)
    # Without details the species are the families, as before.
    families = compute_fas_metrics(SPECIES_SCORES, SPECIES_LABELS, attack_types=SPECIES_TYPES, dev_threshold=0.5)
    assert families["apcer_per_species"] == {"print": 0.75, "replay": 0.0} and families["acer"] == pytest.approx(0.5)


def test_video_level_keys_videos_on_dataset_and_id_and_keeps_species():
    # Corpora "a" and "b" both have a video "v1" (one live, one print/glossy); "v2" of "a" is replay/phone.
    scores = [0.9, 0.7, 0.6, 0.2, 0.3, 0.1]
    labels = [0, 0, 1, 1, 1, 1]
    videos = ["v1", "v1", "v1", "v1", "v2", "v2"]
    datasets = ["a", "a", "b", "b", "a", "a"]
    types = ["none", "none", "print", "print", "replay", "replay"]
    details = ["", "", "glossy", "glossy", "phone", "phone"]
    v_scores, v_labels, _, _ = aggregate_by_video(scores, labels, videos, datasets=datasets)
    assert v_scores == pytest.approx([0.8, 0.4, 0.2]) and v_labels.tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="'v1' mixes"):  # without the dataset the two corpora would merge
        aggregate_by_video(scores, labels, videos)
    m = compute_fas_metrics(scores, labels, video_ids=videos, datasets=datasets, attack_types=types,
                            attack_details=details, video_level=True, dev_threshold=0.35)
    assert m["num_samples"] == 3 and m["num_live"] == 1
    assert m["apcer_per_species"] == {"print/glossy": 1.0, "replay/phone": 0.0}
    assert m["apcer_max"] == 1.0 and m["acer"] == pytest.approx(0.5)
    # The dev threshold is chosen on (dataset, video_id) videos too: dev videos a/v1 live 0.8, b/v1 spoof 0.3.
    dev = compute_fas_metrics(scores, labels, video_ids=videos, datasets=datasets, video_level=True,
                              dev_predictions=[0.8, 0.8, 0.3, 0.3], dev_references=[0, 0, 1, 1],
                              dev_video_ids=["v1"] * 4, dev_datasets=["a", "a", "b", "b"])
    # The dev EER threshold 0.8 moves to the log-odds middle of the gap down to 0.3 (same dev decisions).
    assert dev["threshold"] == pytest.approx(1 / (1 + math.exp(-(math.log(0.8 / 0.2) + math.log(0.3 / 0.7)) / 2)))


def test_video_aggregation_rejects_mixed_videos_and_missing_ids():
    with pytest.raises(ValueError, match="'v1' mixes"):
        aggregate_by_video([0.9, 0.1], [0, 1], ["v1", "v1"])
    with pytest.raises(ValueError, match="needs video_ids"):
        compute_fas_metrics([0.9, 0.1], [0, 1], video_level=True)
    with pytest.raises(ValueError, match="dev_video_ids"):
        compute_fas_metrics([0.9, 0.1], [0, 1], video_ids=["a", "b"], video_level=True,
                            dev_predictions=[0.8, 0.2], dev_references=[0, 1])


def test_dev_set_threshold_is_the_dev_eer_threshold_and_absent_without_dev():
    dev_scores, dev_labels = [0.95, 0.7, 0.65, 0.3], [0, 0, 1, 1]
    # EER threshold 0.7, moved to the log-odds middle of the gap down to the next dev score, 0.65: ~0.6757.
    expected = 1 / (1 + math.exp(-(math.log(0.7 / 0.3) + math.log(0.65 / 0.35)) / 2))
    assert choose_threshold(dev_scores, dev_labels) == pytest.approx(expected) and 0.65 < expected < 0.7
    m = compute_fas_metrics(KNOWN_SCORES, KNOWN_LABELS, dev_predictions=dev_scores, dev_references=dev_labels)
    assert m["threshold"] == pytest.approx(expected) and m["threshold_source"] == "dev_set"
    assert m["hter"] == pytest.approx((0.25 + 0.5) / 2)  # spoofs >= 0.676: one of four; live below: two of four
    none = compute_fas_metrics(KNOWN_SCORES, KNOWN_LABELS)
    assert none["threshold"] is None and none["hter"] is None and none["acer"] is None and none["apcer_per_species"] == {}
    assert none["hter_oracle"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="not both"):
        compute_fas_metrics(KNOWN_SCORES, KNOWN_LABELS, dev_threshold=0.5, dev_predictions=dev_scores,
                            dev_references=dev_labels)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="labels must be 0"):
        compute_fas_metrics([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        compute_fas_metrics([0.1, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        compute_fas_metrics([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="contradicts attack_type"):
        operating_point_metrics([0.1, 0.2], [0, 1], 0.5, ["none", "none"])


def test_evaluate_load_of_the_folder_matches_the_function():
    import evaluate

    folder = Path(ifas.fas_metrics.__file__).parent
    metric = evaluate.load(str(folder))
    kwargs = {"attack_types": KNOWN_ATTACKS, "dev_threshold": 0.45}
    direct = compute_fas_metrics(KNOWN_SCORES, KNOWN_LABELS, **kwargs)
    assert metric.compute(predictions=KNOWN_SCORES, references=KNOWN_LABELS, **kwargs) == direct
    metric.add_batch(predictions=KNOWN_SCORES[:3], references=KNOWN_LABELS[:3])
    metric.add_batch(predictions=KNOWN_SCORES[3:], references=KNOWN_LABELS[3:])
    assert metric.compute(**kwargs) == direct
