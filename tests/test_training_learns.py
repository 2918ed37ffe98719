"""The training path CAN learn: a small overfit with the demo's recipe (calibrated GAC, cached frozen tower, L-LM
loss; the tiny random LLM is fine-tuned in full, since LoRA cannot grow its near-zero random LM head) reaches
judgment accuracy 1.0 and separated scores. A collapse to image-independent scores
(what the demo suffered before the connector calibration) fails here instead of in a benchmark."""

import statistics

import pytest
import torch

from ifas.model_builders import tiny_ifas
from ifas.train.connector_init import calibrate_connector
from ifas.train.vision_cache import VisionFeatureCache
from tiny_dataset import tiny_contract_dataset
from train_sft import IFASSFTConfig, IFASSFTTrainer


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    model, processor = tiny_ifas("dinov2", seed=0, gac_mode="replace")
    train = tiny_contract_dataset(n_per_split=16)["train"]
    model.model.vision_tower.requires_grad_(False)
    cache = VisionFeatureCache()
    cache.attach(model)
    calibrate_connector(model, processor.prepare_inputs(list(train["image"]))["pixel_values"])
    args = IFASSFTConfig(output_dir=str(tmp_path_factory.mktemp("overfit")), max_steps=60,
                         per_device_train_batch_size=8, learning_rate=2e-3, connector_learning_rate=1e-3,
                         logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=0,
                         lr_scheduler_type="constant")
    trainer = IFASSFTTrainer(model=model, args=args, train_dataset=train, processing_class=processor)
    trainer.train()
    accuracy = [entry["judgment_accuracy"] for entry in trainer.state.log_history if "judgment_accuracy" in entry]
    merged = trainer.model.eval()
    with torch.no_grad():
        scores = merged.score(processor, list(train["image"]))
    return accuracy, scores, list(train["label"]), cache


def test_overfit_reaches_judgment_accuracy_one(overfit):
    accuracy, _, _, _ = overfit
    assert accuracy[0] < 1.0  # it had something to learn
    assert min(accuracy[-4:]) == 1.0


def test_overfit_separates_live_from_spoof_scores(overfit):
    _, scores, labels, _ = overfit
    live = [float(s) for s, y in zip(scores, labels) if y == 0]
    spoof = [float(s) for s, y in zip(scores, labels) if y == 1]
    assert min(live) > max(spoof)
    assert statistics.median(live) >= 0.7 and statistics.median(spoof) <= 0.3


def test_training_read_the_tower_once_per_image(overfit):
    *_, cache = overfit
    assert len(cache) == 16 and cache.misses == 16 and cache.hits > 0
