"""SCF step 4: fine-tune the general captioner C_G on the kept captions into the spoof-aware captioner C_S.

Standard LM loss through TRL's `SFTTrainer` (the project's training machinery) on prompt-completion conversations:
user = the image + the captioning prompt the pipeline captioner uses, assistant = the kept caption. Works for any
Hugging Face image-text-to-text model whose processor has a chat template (LLaVA-style, SmolVLM, I-FAS, ...).
A finished C_S (marked by `scf_finetune.json`) is reused, so an interrupted SCF run resumes without retraining.

Example:
    >>> path = finetune_captioner(kept_rows, "HuggingFaceTB/SmolVLM-256M-Instruct", "work/c_s",  # doctest: +SKIP
    ...                           max_steps=200)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import SFTConfig, SFTTrainer

from datasets_scripts.scf.pipeline_captioner import DEFAULT_PROMPT_MODE, build_prompt

logger = logging.getLogger(__name__)
MARKER = "scf_finetune.json"


def to_conversations(kept: Dataset, prompt_mode: str = DEFAULT_PROMPT_MODE) -> Dataset:
    """Contract rows → `prompt`/`completion` conversations with the row's image."""

    def convert(row):
        prompt = build_prompt(row["attack_type"], row["attack_detail"] or "", prompt_mode)
        return {
            "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": row["caption"]}]}],
        }

    return kept.map(convert, remove_columns=[c for c in kept.column_names if c != "image"])


def finetune_captioner(
    kept: Dataset,
    captioner: str,
    output_dir: str,
    *,
    prompt_mode: str = DEFAULT_PROMPT_MODE,
    num_train_epochs: float = 1.0,
    max_steps: int = -1,
    learning_rate: float = 2e-5,
    per_device_train_batch_size: int = 4,
    seed: int = 0,
) -> str:
    """Fine-tune `captioner` (name or path) on `kept` (contract rows with kept captions); return C_S's folder."""
    out = Path(output_dir)
    if (out / MARKER).exists():
        logger.info("reusing the fine-tuned captioner in %s", out)
        return str(out)
    if len(kept) == 0:
        raise ValueError("finetune_captioner: no kept captions to fine-tune on")
    model = AutoModelForImageTextToText.from_pretrained(captioner, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(captioner, trust_remote_code=True)
    args = SFTConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=num_train_epochs, max_steps=max_steps,
        learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size, seed=seed,
        max_length=None, loss_type="nll", gradient_checkpointing=False, report_to="none", save_strategy="no",
        bf16=bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()), logging_steps=10,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=to_conversations(kept, prompt_mode),
                         processing_class=processor)
    trainer.train()
    if trainer.accelerator.is_main_process:
        trainer.model.save_pretrained(out)
        processor.save_pretrained(out)
        (out / MARKER).write_text(json.dumps({"base": captioner, "rows": len(kept), "steps": trainer.state.global_step}))
    trainer.accelerator.wait_for_everyone()
    return str(out)
