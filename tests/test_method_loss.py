"""The loss the trainer returns and logs, against a hand computation on the same batch and weights.

    L = α · mean NLL(judgment tokens) + (1 − α) · mean NLL(other answer tokens);  α = None: mean NLL(all answer tokens)
"""

import pytest
import torch

from tiny_dataset import tiny_contract_dataset
from trainer_args import make_trainer as make_common_trainer

EXTRA = ["--max_steps", "1", "--optim", "sgd", "--learning_rate", "0", "--logging_steps", "1",
         "--save_strategy", "no"]


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("loss_data") / "tiny")
    tiny_contract_dataset().save_to_disk(path)
    return path


def make_trainer(checkpoint, dataset_path, output_dir, *args):
    return make_common_trainer(checkpoint, dataset_path, output_dir, *EXTRA, *args)[0]


def hand_losses(trainer):
    """(mean judgment NLL, mean interpretation NLL, mean NLL of all answer tokens) over the whole train set."""
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    batch = trainer.data_collator(rows)
    labels = batch.pop("labels")
    trainer.model.train()
    with torch.no_grad():
        logits = trainer.model(**batch).logits.double()
    judgment, interpretation = [], []
    for row in range(labels.shape[0]):
        positions = (labels[row] != -100).nonzero().flatten().tolist()
        for k, position in enumerate(positions):
            nll = -torch.log_softmax(logits[row, position - 1], dim=-1)[labels[row, position]].item()
            (judgment if k == 0 else interpretation).append(nll)
    assert len(judgment) == len(rows) and len(interpretation) > len(rows)
    everything = judgment + interpretation
    return (sum(judgment) / len(judgment), sum(interpretation) / len(interpretation),
            sum(everything) / len(everything))


@pytest.mark.parametrize("weight", ["0.7", "0.2", "None"])
def test_trainer_loss_is_the_lopsided_loss_of_the_batch(weight, tiny_checkpoint, dataset_path, tmp_path):
    trainer = make_trainer(tiny_checkpoint, dataset_path, tmp_path, "--per_device_train_batch_size", "8",
                           "--judgment_weight", weight)
    judgment, interpretation, plain = hand_losses(trainer)
    assert abs(judgment - interpretation) > 0.01  # else the weighting could not be told apart (rel=1e-5 below)
    expected = plain if weight == "None" else float(weight) * judgment + (1 - float(weight)) * interpretation
    result = trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry][0]
    assert result.training_loss == pytest.approx(expected, rel=1e-5)
    assert logged["loss"] == pytest.approx(expected, rel=1e-5)
    assert logged["loss_judgment"] == pytest.approx(judgment, rel=1e-5)
    assert logged["loss_interpretation"] == pytest.approx(interpretation, rel=1e-5)


def test_accumulated_micro_batches_give_the_loss_of_the_whole_step(tiny_checkpoint, dataset_path, tmp_path):
    trainer = make_trainer(tiny_checkpoint, dataset_path, tmp_path, "--per_device_train_batch_size", "2",
                           "--gradient_accumulation_steps", "4", "--judgment_weight", "0.7")
    judgment, interpretation, _ = hand_losses(trainer)
    result = trainer.train()
    assert result.training_loss == pytest.approx(0.7 * judgment + 0.3 * interpretation, rel=1e-5)
