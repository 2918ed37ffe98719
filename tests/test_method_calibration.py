"""Calibration: the operating threshold is the dev set's EER threshold computed by hand (moved to the log-odds middle
of the gap below it), never the target's own, and the target's HTER is taken at it."""

import math

import numpy as np
import pytest

from ifas.evaluation import evaluate
from ifas.model_builders import tiny_ifas
from tiny_dataset import tiny_contract_dataset


def hand_eer_threshold(scores, labels):
    """The observed score where |FNR - FPR| is smallest (accept as live when score >= t); ties go to the higher t."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    live, spoof = scores[labels == 0], scores[labels == 1]
    best = None
    for t in sorted(set(scores.tolist()), reverse=True):
        gap = abs(np.mean(live < t) - np.mean(spoof >= t))
        if best is None or gap < best[0]:
            best = (gap, t)
    return best[1]


def hand_operating_threshold(scores, labels):
    """The dev EER threshold moved to the log-odds midpoint between it and the next lower dev score."""
    threshold = hand_eer_threshold(scores, labels)
    lower = max(s for s in scores if s < threshold)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return 1 / (1 + math.exp(-(logit(threshold) + logit(lower)) / 2))


def hand_hter(scores, labels, threshold):
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    apcer = np.mean(scores[labels == 1] >= threshold)
    bpcer = np.mean(scores[labels == 0] < threshold)
    return (apcer + bpcer) / 2


@pytest.fixture(scope="module")
def setting():
    model, processor = tiny_ifas("clip", seed=3)
    data = tiny_contract_dataset(n_per_split=10)
    scores = {split: model.score(processor, list(data[split]["image"])).tolist() for split in data}
    labels = {split: data[split]["label"] for split in data}
    return model, processor, data, scores, labels


def test_threshold_is_the_dev_eer_threshold_and_hter_is_taken_there(setting, tmp_path):
    model, processor, data, scores, labels = setting
    dev_threshold = hand_eer_threshold(scores["dev"], labels["dev"])
    target_threshold = hand_eer_threshold(scores["train"], labels["train"])
    assert dev_threshold != pytest.approx(target_threshold, abs=1e-6)  # a threshold taken from the target shows
    results = evaluate(model, processor, {"target": data["train"]}, dev=data["dev"], out_dir=tmp_path)
    assert results["threshold_source"] == "dev_set"
    assert results["threshold"] == pytest.approx(hand_operating_threshold(scores["dev"], labels["dev"]), abs=1e-9)
    target = results["targets"]["target"]
    assert target["hter"] == pytest.approx(hand_hter(scores["train"], labels["train"], results["threshold"]))
    assert target["eer_threshold"] == pytest.approx(target_threshold, abs=1e-6)


def test_a_dev_set_overrides_the_checkpoint_threshold_which_serves_without_one(setting, tmp_path):
    model, processor, data, scores, labels = setting
    model.config.threshold = 0.123
    try:
        with_dev = evaluate(model, processor, {"target": data["train"]}, dev=data["dev"], out_dir=tmp_path / "a")
        without = evaluate(model, processor, {"target": data["train"]}, out_dir=tmp_path / "b")
        assert model.config.threshold == 0.123  # evaluate leaves the model unchanged
    finally:
        model.config.threshold = None
    assert with_dev["threshold"] == pytest.approx(hand_operating_threshold(scores["dev"], labels["dev"]), abs=1e-9)
    assert without["threshold"] == 0.123 and without["threshold_source"] == "dev_threshold"
    assert without["targets"]["target"]["hter"] == pytest.approx(hand_hter(scores["train"], labels["train"], 0.123))
