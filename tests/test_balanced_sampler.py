"""Balanced live/spoof batches (`--balanced_batches`): the order alternates the classes, covers the majority class
without repeats within an epoch, is seeded, and reaches the Trainer's batches."""

from collections import Counter

import pytest
from datasets import concatenate_datasets

from ifas.model_builders import tiny_ifas
from ifas.train.balanced_sampler import LabelBalancedSampler
from tiny_dataset import tiny_contract_dataset
from train_sft import IFASSFTConfig, IFASSFTTrainer

LABELS = [1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]  # 3 live (rows 1, 5, 8), 9 spoof


def test_classes_alternate_and_each_is_drawn_as_a_shuffled_cycle():
    order = list(LabelBalancedSampler(LABELS, seed=3))
    assert len(order) == len(LABELS)
    assert [LABELS[i] for i in order] == [0, 1] * 6
    live_draws, spoof_draws = order[0::2], order[1::2]
    # 6 live draws from 3 live rows: two full passes, each a permutation of the live rows
    assert sorted(live_draws[:3]) == sorted(live_draws[3:]) == [1, 5, 8]
    # 6 spoof draws from 9 spoof rows: no spoof row twice within the epoch
    assert len(set(spoof_draws)) == 6 and all(LABELS[i] == 1 for i in spoof_draws)


def test_order_is_seeded_and_reshuffled_per_epoch():
    first, again = LabelBalancedSampler(LABELS, seed=0), LabelBalancedSampler(LABELS, seed=0)
    assert list(first) == list(again)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0
    assert list(LabelBalancedSampler(LABELS, seed=1)) != epoch0


def test_one_class_only_is_refused():
    with pytest.raises(ValueError, match="0 live and 4 spoof"):
        LabelBalancedSampler([1, 1, 1, 1])


def test_trainer_batches_are_half_live(tmp_path):
    model, processor = tiny_ifas("dinov2")
    data = tiny_contract_dataset(n_per_split=8)["train"]
    spoof_heavy = concatenate_datasets([data, data.filter(lambda label: label == 1, input_columns="label")])
    assert Counter(spoof_heavy["label"]) == {0: 4, 1: 8}
    batches = {}
    for balanced in (False, True):
        args = IFASSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=1, seed=0,
                             per_device_train_batch_size=4, balanced_batches=balanced, save_strategy="no")
        trainer = IFASSFTTrainer(model=model, args=args, train_dataset=spoof_heavy, processing_class=processor)
        batches[balanced] = [batch["labels"] for batch in trainer.get_train_dataloader()]
    assert len(batches[True]) == 3
    live_id = processor.judgment_token_ids()[0]
    for labels in batches[True]:
        judgments = [row[row != -100][0].item() for row in labels]
        assert judgments.count(live_id) == 2  # two live rows in every batch of four
    unbalanced = [[row[row != -100][0].item() for row in labels].count(live_id) for labels in batches[False]]
    assert sum(unbalanced) == 4  # the default order: each row once, 4 live rows in all
