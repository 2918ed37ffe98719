"""`IFASSFTTrainer` used the TRL way (model, args, train_dataset, processing_class; a plain `SFTConfig`) collates
contract rows with `IFASCollator` and trains with the L-LM loss."""

import pytest
import torch
from trl import SFTConfig

from ifas.model_builders import tiny_ifas
from ifas.train.sft_data import IFASCollator
from tiny_dataset import tiny_contract_dataset
from train_sft import IFASSFTConfig, IFASSFTTrainer


@pytest.mark.parametrize("config_class", [SFTConfig, IFASSFTConfig])
def test_processor_alone_selects_the_ifas_collator(config_class, tmp_path):
    model, processor = tiny_ifas("dinov2")
    args = config_class(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_steps=2,
                        per_device_train_batch_size=4, learning_rate=1e-2, logging_steps=1, save_strategy="no",
                        gradient_checkpointing=False, seed=0)
    dataset = tiny_contract_dataset()["train"]
    trainer = IFASSFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor)
    assert isinstance(trainer.data_collator, IFASCollator) and trainer.data_collator.processor is processor
    assert isinstance(trainer.args, IFASSFTConfig) and trainer.args.judgment_weight == 0.7
    assert trainer.args.learning_rate == 1e-2 and trainer.args.max_steps == 2
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2 and all("loss_judgment" in entry for entry in logged)
    assert any(not torch.equal(before[name], p) for name, p in model.named_parameters())
