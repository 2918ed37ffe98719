"""P(live) from the Yes/No logit margin without float32 saturation, the margin exposed, and a dev threshold that stays
strictly inside (0, 1) when every live score is above float32's saturation point."""

import math

import numpy as np
import pytest
import torch

from ifas.fas_metrics import choose_threshold, roc_auc
from ifas.model_builders import tiny_ifas
from modeling_ifas import p_live_from_margin
from tiny_dataset import tiny_image


def test_margins_20_and_25_give_different_scores_below_one():
    assert torch.sigmoid(torch.tensor(20.0)) == torch.sigmoid(torch.tensor(25.0)) == 1.0  # what float32 did
    p20, p25, p30 = p_live_from_margin(torch.tensor([20.0, 25.0, 30.0])).tolist()
    assert p20 < p25 < p30 < 1.0
    assert p25 == pytest.approx(1 / (1 + math.exp(-25.0)), rel=0, abs=1e-15)
    assert p_live_from_margin(torch.tensor(-30.0)).item() == pytest.approx(math.exp(-30.0) / (1 + math.exp(-30.0)),
                                                                         rel=1e-9)


def test_threshold_of_a_dev_set_with_saturated_live_scores_is_below_one():
    live_margins, spoof_margins = [18.0, 21.0, 24.0, 33.0], [-12.0, -3.0, 2.0]
    scores = p_live_from_margin(torch.tensor(live_margins + spoof_margins)).tolist()
    labels = [0] * 4 + [1] * 3
    threshold = choose_threshold(scores, labels)
    assert 0.0 < threshold < 1.0
    # Between the lowest live score and the highest spoof: the log-odds middle, margin (18 + 2) / 2 = 10.
    assert threshold == pytest.approx(1 / (1 + math.exp(-10.0)), rel=1e-12)
    assert roc_auc(scores, labels) == 1.0 and len(set(scores)) == len(scores)


@pytest.fixture(scope="module")
def confident_model():
    """A tiny model whose Yes/No margin is large (|margin| in the 10s) and differs between images."""
    model, processor = tiny_ifas("clip", seed=5)
    live_id, spoof_id = model.judgment_token_ids()
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        direction = torch.randn(head.shape[1], generator=torch.Generator().manual_seed(0))
        head[live_id] = head[spoof_id] + 40.0 * direction / direction.norm()
    return model, processor


def test_score_returns_the_hand_margin_and_its_unsaturated_sigmoid(confident_model):
    model, processor = confident_model
    images = [tiny_image(label, seed) for label, seed in ((0, 1), (1, 2), (0, 3), (1, 4))]
    p_live, margin = model.score(processor, images, return_margin=True)
    inputs = processor.prepare_inputs(images, crop_faces=False)
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1]
    live_id, spoof_id = model.judgment_token_ids()
    hand_margin = (logits[:, live_id] - logits[:, spoof_id]).double()
    assert torch.allclose(margin.double(), hand_margin, atol=1e-4)
    assert margin.abs().max() > 17  # past float32's sigmoid saturation
    assert p_live.dtype == torch.float64
    expected = [1 / (1 + math.exp(-m)) for m in margin.tolist()]
    assert p_live.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert len(set(p_live.tolist())) == len(images) and bool((p_live < 1).all())


def test_judge_reports_the_margin_and_decides_by_it(confident_model):
    model, processor = confident_model
    images = [tiny_image(0, 7), tiny_image(1, 8)]
    p_live, margin = model.score(processor, images, return_margin=True)
    threshold = float(np.sort(p_live.numpy())[0] + 0.5 * (np.sort(p_live.numpy())[1] - np.sort(p_live.numpy())[0]))
    model.config.threshold = threshold
    try:
        answers = model.judge(processor, images, max_new_tokens=2)
    finally:
        model.config.threshold = None
    for answer, p, m in zip(answers, p_live.tolist(), margin.tolist()):
        assert answer["margin"] == pytest.approx(m, abs=1e-4) and answer["p_live"] == pytest.approx(p, rel=1e-9)
        assert answer["is_live"] == (p >= threshold)
    assert {answer["is_live"] for answer in answers} == {True, False}
