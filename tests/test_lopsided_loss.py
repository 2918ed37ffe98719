"""The L-LM loss against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from train_sft import answer_span_masks, lopsided_loss, lopsided_loss_terms

# two rows, vocabulary of 5; labels: prompt (-100), judgment, interpretation..., padding (-100)
LABELS = torch.tensor([[-100, -100, 3, 1, 2, -100], [-100, -100, -100, 4, 0, -100]])


def fixed_logits():
    torch.manual_seed(0)
    return torch.randn(2, 6, 5, requires_grad=True)


def test_span_masks_follow_the_labels():
    judgment, interpretation = answer_span_masks(LABELS[:, 1:])
    assert judgment.nonzero().tolist() == [[0, 1], [1, 2]]
    assert interpretation.nonzero().tolist() == [[0, 2], [0, 3], [1, 3]]


def test_loss_against_hand_computation():
    logits = fixed_logits()
    log_probs = logits.log_softmax(-1)

    def nll(row, position, token):  # the token at `position` is predicted by the logits one step earlier
        return -log_probs[row, position - 1, token].item()

    judgment = (nll(0, 2, 3) + nll(1, 3, 4)) / 2
    interpretation = (nll(0, 3, 1) + nll(0, 4, 2) + nll(1, 4, 0)) / 3
    terms = lopsided_loss_terms(logits, LABELS)
    loss = lopsided_loss(terms, 0.7, terms["judgment_count"], terms["interpretation_count"])
    assert loss.item() == pytest.approx(0.7 * judgment + 0.3 * interpretation, rel=1e-6)


def test_alpha_one_takes_gradient_from_judgment_tokens_only():
    logits = fixed_logits()
    terms = lopsided_loss_terms(logits, LABELS)
    lopsided_loss(terms, 1.0, terms["judgment_count"], terms["interpretation_count"]).backward()
    rows_with_grad = {tuple(x) for x in (logits.grad.abs().sum(-1) > 0).nonzero().tolist()}
    assert rows_with_grad == {(0, 1), (1, 2)}  # the positions predicting the judgment tokens


def test_alpha_half_with_one_token_each_equals_plain_nll():
    logits = fixed_logits()
    labels = torch.tensor([[-100, -100, 3, 1, -100, -100]])
    terms = lopsided_loss_terms(logits[:1], labels)
    loss = lopsided_loss(terms, 0.5, terms["judgment_count"], terms["interpretation_count"])
    plain = F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)


def test_empty_interpretation_adds_nothing():
    logits = fixed_logits()
    labels = torch.tensor([[-100, -100, 3, -100, -100, -100]])
    terms = lopsided_loss_terms(logits[:1], labels)
    loss = lopsided_loss(terms, 0.7, terms["judgment_count"], terms["interpretation_count"])
    assert loss.item() == pytest.approx(0.7 * -logits[0, 1].log_softmax(-1)[3].item(), rel=1e-6)
    assert math.isfinite(loss.item())


def test_alpha_none_is_the_plain_lm_loss():
    logits = fixed_logits()
    terms = lopsided_loss_terms(logits, LABELS)
    loss = lopsided_loss(terms, None, terms["judgment_count"], terms["interpretation_count"])
    plain = F.cross_entropy(logits[:, :-1].reshape(-1, 5), LABELS[:, 1:].reshape(-1), ignore_index=-100)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)
