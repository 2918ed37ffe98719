"""Fine-tune I-FAS with the Lopsided LM (L-LM) loss: a TRL `SFTTrainer` subclass, LoRA, accelerate.

    L = α · L_judgment + (1 − α) · L_interpretation          (α = --judgment_weight, default 0.7)

L_judgment is the mean cross-entropy over the judgment tokens (the first answer token, Yes/No) and
L_interpretation the mean over the other supervised answer tokens. Each mean runs over its own tokens across
the whole gradient-accumulation step and all processes, so the loss and its gradient do not depend on how a global
batch is split into micro-batches or ranks (counts come from `get_batch_samples`, all-gathered).

Usage (one CPU to many GPUs, same script):

    accelerate launch train_sft.py --model_name_or_path outputs/tiny-ifas --dataset_path data/synthfas \\
        --output_dir outputs/run --max_steps 100
    accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml train_sft.py --config configs/ocim_m.yaml
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from accelerate import PartialState
from peft import LoraConfig, get_peft_model
from transformers import set_seed
from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser

from ifas.model_builders import from_backbones, from_pretrained_vlm
from ifas.train.balanced_sampler import LabelBalancedSampler
from ifas.train.connector_init import calibrate_connector, encode_images, warm_start_connector
from ifas.train.freezing import freeze_unused_parameters
from ifas.train.image_check import drop_unreadable_images_across_ranks
from ifas.train.saving import save_full_checkpoint, zero3_init_disabled
from ifas.train.sharding import connector_weights, sharded_training
from ifas.train.vision_cache import VisionFeatureCache
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from datasets_scripts.contract import LABEL_LIVE
from datasets_scripts.protocols import load_protocol
from ifas.train.sft_data import IFASCollator, check_captions, check_judgment_tokens, check_lengths, load_training_split

logger = logging.getLogger(__name__)
LANGUAGE_MODEL_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


CONNECTOR_MODULES = ("multi_modal_projector", "gac")


def is_connector_parameter(name: str) -> bool:
    """True for parameters of the GAC and the MLP projector (also under PEFT's `modules_to_save` wrappers)."""
    return any(f"{module}." in name for module in CONNECTOR_MODULES)


@dataclass
class IFASSFTConfig(SFTConfig):
    """`SFTConfig` with the L-LM weight and I-FAS defaults (custom collator, logits kept, bf16 only on GPUs)."""

    judgment_weight: float | None = field(
        default=0.7, metadata={"help": "α of the L-LM loss, in [0, 1]; None = the plain LM loss (every answer token "
                                       "weighted alike), the paper's ablation."})
    connector_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the GAC and the projector (LLaVA's mm_projector_lr); "
                                        "default: --learning_rate."})
    balanced_batches: bool = field(
        default=False, metadata={"help": "Alternate live and spoof rows in the training order, so every batch of an "
                                         "even size is half live (ifas/train/balanced_sampler.py)."})
    loss_type: str = field(default="nll", metadata={"help": "Kept 'nll': the L-LM loss needs the logits."})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision; default: on when CUDA has it."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Kept False: the collator reads rows."})
    max_length: int | None = field(default=None, metadata={"help": "Refuse rows longer than this (never truncate)."})
    dataset_kwargs: dict | None = field(default_factory=lambda: {"skip_prepare_dataset": True})

    def __post_init__(self):
        if self.bf16 is None:
            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) and not self.fp16
        if self.judgment_weight is not None and not 0.0 <= self.judgment_weight <= 1.0:
            raise ValueError(f"judgment_weight must be in [0, 1], got {self.judgment_weight}")
        super().__post_init__()


@dataclass
class IFASScriptArguments:
    """Data, model construction and freezing options of `train_sft.py`."""

    dataset_path: list[str] = field(default_factory=list, metadata={"help": "Saved contract DatasetDict(s)."})
    protocol: str | None = field(default=None, metadata={"help": "Train on a named protocol's sources (OCI_to_M, "
                                                                 "one_to_eleven, ...; datasets_scripts/protocols.py)."})
    data_root: str | None = field(default=None, metadata={"help": "Built (SCF-captioned) corpora for --protocol."})
    dataset_train_split: str = "train"
    dataset_eval_split: str | None = None
    vlm_model_name_or_path: str | None = field(default=None, metadata={
        "help": "Convert this pretrained LLaVA checkpoint (llava-hf/llava-1.5-7b-hf, ...) into I-FAS, adding GAC."})
    vlm_chat_template_path: str | None = field(default=None, metadata={
        "help": "A Jinja chat template file for --vlm_model_name_or_path (needed when the source has none)."})
    vision_model_name_or_path: str | None = field(default=None, metadata={"help": "Build from this vision tower."})
    text_model_name_or_path: str | None = field(default=None, metadata={"help": "... and this causal LM."})
    image_size: int | None = None
    gac_num_queries: int = 32
    use_gac: bool = True
    freeze_vision_tower: bool = True
    freeze_language_model: bool = False
    train_connector_only: bool = field(default=False, metadata={"help": "Train only the projector and GAC."})
    merge_lora: bool = field(default=True, metadata={"help": "Merge LoRA into the final complete checkpoint."})
    check_images: bool = field(default=True, metadata={"help": "Decode every image first; skip unreadable rows."})
    cache_vision_features: bool = field(default=False, metadata={
        "help": "Run the frozen vision tower once per image and reuse its features (ifas/train/vision_cache.py); "
                "refused under DeepSpeed ZeRO-3 and FSDP (the sharded tower's forward is a collective)."})
    vision_cache_gib: float = field(default=4.0, metadata={
        "help": "At most this many GiB of cached vision features per process (least recently used evicted)."})
    calibrate_connector_images: int = field(default=0, metadata={
        "help": "For a freshly initialised GAC: standardise its inputs and match its output norm to the LLM's "
                "embeddings on this many training images before training (ifas/train/connector_init.py); 0 = off; "
                "skipped when resuming (the checkpoint holds the connector)."})
    warm_start_connector_steps: int = field(default=0, metadata={
        "help": "Connector-only stage before training: this many steps of the GAC with a temporary probe that "
                "tells live from each attack type on the frozen tower's features of the training images "
                "(ifas/train/connector_init.py); 0 = off; skipped when resuming."})
    warm_start_connector_lr: float = 1e-3
    warm_start_connector_images: int = field(default=1024, metadata={
        "help": "At most this many training images (a seeded draw) for the connector's warm start."})


def answer_span_masks(shifted_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Judgment mask (first supervised token of each row) and interpretation mask (the other supervised tokens)."""
    valid = shifted_labels != -100
    first = valid & (valid.long().cumsum(dim=1) == 1)
    return first, valid & ~first


def first_supervised_position(labels: torch.Tensor) -> int:
    """The first column of `labels` that any row supervises (0 when none does).

    >>> first_supervised_position(torch.tensor([[-100, -100, 5, 6], [-100, 7, 8, -100]]))
    1
    """
    supervised = (labels != -100).any(dim=0).nonzero()
    return int(supervised[0]) if len(supervised) else 0


def lopsided_loss_terms(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Summed cross-entropy and token counts of the judgment and interpretation spans (labels unshifted).

    Only the supervised positions go through the softmax (a few dozen answer tokens, not the whole prompt)."""
    shifted_labels = labels[:, 1:]
    valid = shifted_labels != -100
    judgment, _ = answer_span_masks(shifted_labels)
    selected_logits = logits[:, :-1][valid].float()
    selected_labels = shifted_labels[valid]
    is_judgment = judgment[valid]
    token_loss = F.cross_entropy(selected_logits, selected_labels, reduction="none")
    judgment_logits = selected_logits[is_judgment].detach()
    correct = judgment_logits.argmax(-1) == selected_labels[is_judgment]
    return {
        "judgment_sum": token_loss[is_judgment].sum(),
        "interpretation_sum": token_loss[~is_judgment].sum(),
        "judgment_count": is_judgment.sum(),
        "interpretation_count": (~is_judgment).sum(),
        "judgment_correct": correct.sum(),
    }


def lopsided_loss(terms: dict, alpha: float | None, judgment_count, interpretation_count) -> torch.Tensor:
    """α·(judgment_sum / judgment_count) + (1−α)·(interpretation_sum / interpretation_count); empty spans add 0.
    `alpha=None` gives the plain LM loss: the mean over all answer tokens."""
    if alpha is None:
        total = (judgment_count + interpretation_count).clamp(min=1)
        return (terms["judgment_sum"] + terms["interpretation_sum"]) / total
    judgment = terms["judgment_sum"] / judgment_count.clamp(min=1)
    interpretation = terms["interpretation_sum"] / interpretation_count.clamp(min=1)
    return alpha * judgment + (1.0 - alpha) * interpretation


JUDGMENT_CHECK_ROWS = 64  # rows searched for one live and one spoof row to check at start-up


class IFASSFTTrainer(SFTTrainer):
    """`SFTTrainer` whose `compute_loss` is the L-LM loss; logs loss_judgment, loss_interpretation and
    judgment_accuracy.

    Used like `SFTTrainer`: with an `IFASProcessor` as `processing_class` and no `data_collator`, it collates
    contract rows with `IFASCollator`; a plain `SFTConfig` becomes an `IFASSFTConfig` (α = 0.7). At start-up it
    checks, on real rows, that training supervises the judgment token ids `score()` reads.

    >>> trainer = IFASSFTTrainer(model=model, args=SFTConfig(output_dir="out"), train_dataset=rows,
    ...                          processing_class=processor)  # doctest: +SKIP
    """

    loss_is_scaled_for_ga = True

    def __init__(self, model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, **kwargs):
        if args is None:
            args = IFASSFTConfig()
        elif not isinstance(args, IFASSFTConfig):
            settings = {key: getattr(args, key) if key.endswith("_token") else value  # to_dict masks *_token
                        for key, value in args.to_dict().items() if key in IFASSFTConfig.__dataclass_fields__}
            args = IFASSFTConfig(**settings)
        if data_collator is None and isinstance(processing_class, IFASProcessor):
            data_collator = IFASCollator(processing_class, max_length=args.max_length)
        if isinstance(data_collator, IFASCollator) and train_dataset is not None and not isinstance(model, str):
            check_judgment_tokens(data_collator, judgment_check_rows(train_dataset),
                                  model.config.judgment_token_ids or data_collator.processor.judgment_token_ids())
        super().__init__(model=model, args=args, data_collator=data_collator, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, processing_class=processing_class, **kwargs)

    def _set_signature_columns_if_needed(self):
        """Keep the contract columns `IFASCollator` reads (TRL keeps only `image`, `messages`, ... for vision data)."""
        if self._signature_columns is None and isinstance(self.data_collator, IFASCollator):
            self._signature_columns = ["image", "label", "caption", "video_id"]
        super()._set_signature_columns_if_needed()

    def create_optimizer(self, model=None):
        """The default optimizer, with the connector (GAC, projector) in groups of their own at
        `connector_learning_rate` when it is set."""
        optimizer = super().create_optimizer(model)
        if self.args.connector_learning_rate is None:
            return optimizer
        connector = {id(p) for name, p in (model or self.model).named_parameters() if is_connector_parameter(name)}
        groups = list(optimizer.param_groups)
        optimizer.param_groups.clear()
        for group in groups:
            settings = {key: value for key, value in group.items() if key != "params"}
            for in_connector, lr in ((False, group["lr"]), (True, self.args.connector_learning_rate)):
                params = [p for p in group["params"] if (id(p) in connector) == in_connector]
                if params:
                    optimizer.add_param_group({**settings, "params": params, "lr": lr})
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        """`LabelBalancedSampler` over the rows' labels with `balanced_batches`, else the Trainer's sampler."""
        train_dataset = self.train_dataset if train_dataset is None else train_dataset
        if not self.args.balanced_batches:
            return super()._get_train_sampler(train_dataset)
        if not hasattr(train_dataset, "column_names") or "label" not in (train_dataset.column_names or []):
            raise ValueError("balanced_batches needs a map-style training dataset with a 'label' column")
        return LabelBalancedSampler(train_dataset["label"], seed=self.args.seed)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        judgment, interpretation = torch.zeros((), dtype=torch.long), torch.zeros((), dtype=torch.long)
        for batch in batch_samples:
            j, i = answer_span_masks(batch["labels"][:, 1:])
            judgment, interpretation = judgment + j.sum(), interpretation + i.sum()
        counts = torch.stack([judgment, interpretation]).to(device)
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.gather(counts.unsqueeze(0)).sum(0)
        self._step_counts = counts
        return batch_samples, num_items_in_batch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]  # read, not popped: prediction_step and compute_metrics still see them
        inputs = {key: value for key, value in inputs.items() if key != "labels"}
        first = first_supervised_position(labels)
        if first > 0:  # logits only where the loss reads them: the LM head over the prompt is wasted work
            labels = labels[:, first - 1 :]
            inputs["logits_to_keep"] = torch.arange(first - 1, first - 1 + labels.shape[1])
        outputs = model(**inputs, use_cache=False)
        terms = lopsided_loss_terms(outputs.logits, labels)
        alpha = self.args.judgment_weight
        if model.training and getattr(self, "_step_counts", None) is not None:
            judgment_count, interpretation_count = self._step_counts
            loss = lopsided_loss(terms, alpha, judgment_count, interpretation_count)
            loss = loss * self.accelerator.num_processes  # DDP averages gradients over ranks
        else:
            loss = lopsided_loss(terms, alpha, terms["judgment_count"], terms["interpretation_count"])
        self._log_terms(terms, "train" if model.training else "eval")
        return (loss, outputs) if return_outputs else loss

    def _log_terms(self, terms: dict, mode: str) -> None:
        stats = torch.stack([terms[key].detach().float() for key in (
            "judgment_sum", "interpretation_sum", "judgment_count", "interpretation_count", "judgment_correct")])
        # One row of sums per process: gather, not gather_for_metrics (which drops "duplicate" rows of a last batch)
        j_sum, i_sum, j_count, i_count, correct = self.accelerator.gather(stats.unsqueeze(0)).sum(0)
        metrics = self._metrics[mode]
        metrics["loss_judgment"].append((j_sum / j_count.clamp(min=1)).item())
        metrics["loss_interpretation"].append((i_sum / i_count.clamp(min=1)).item())
        metrics["judgment_accuracy"].append((correct / j_count.clamp(min=1)).item())


def judgment_check_rows(dataset) -> list[dict]:
    """The first live row and the first spoof row among the first `JUDGMENT_CHECK_ROWS` rows (images not read)."""
    available = dataset.column_names or ["label", "caption"]  # an IterableDataset may not know its columns
    columns = [name for name in ("label", "caption", "video_id") if name in available]
    rows = {}
    for _, row in zip(range(JUDGMENT_CHECK_ROWS), dataset.select_columns(columns)):
        rows.setdefault(row["label"], row)
    return list(rows.values())


def freeze(model: IFASForConditionalGeneration, script_args: IFASScriptArguments) -> None:
    """Freeze the vision tower and/or the language model (and its head/embeddings) as asked."""
    freeze_language = script_args.freeze_language_model or script_args.train_connector_only
    if script_args.freeze_vision_tower or script_args.train_connector_only:
        model.model.vision_tower.requires_grad_(False)
    if freeze_language:
        model.model.language_model.requires_grad_(False)
        model.lm_head.requires_grad_(False)


def load_model_and_processor(model_args: ModelConfig, script_args: IFASScriptArguments):
    """An I-FAS checkpoint (`--model_name_or_path`) or one converted from a LLaVA checkpoint
    (`--vlm_model_name_or_path`), weights in `--dtype` (float32 for "auto": the optimizer's master weights; `--bf16`
    is mixed precision), or one built from `--vision/text_model_name_or_path`."""
    dtype = torch.float32 if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    if script_args.vlm_model_name_or_path:
        chat_template = None
        if script_args.vlm_chat_template_path:
            with open(script_args.vlm_chat_template_path, encoding="utf-8") as file:
                chat_template = file.read()
        return from_pretrained_vlm(script_args.vlm_model_name_or_path, dtype=dtype, chat_template=chat_template,
                                   gac_num_queries=script_args.gac_num_queries, use_gac=script_args.use_gac)
    if script_args.vision_model_name_or_path and script_args.text_model_name_or_path:
        with zero3_init_disabled():  # whole tensors while the backbones are copied in; DeepSpeed partitions later
            return from_backbones(
                script_args.vision_model_name_or_path, script_args.text_model_name_or_path, script_args.image_size,
                gac_num_queries=script_args.gac_num_queries, use_gac=script_args.use_gac,
            )
    if not model_args.model_name_or_path:
        raise ValueError("give --model_name_or_path, --vlm_model_name_or_path, or both --vision_model_name_or_path and "
                         "--text_model_name_or_path")
    model = IFASForConditionalGeneration.from_pretrained(model_args.model_name_or_path, dtype=dtype)
    processor = IFASProcessor.from_pretrained(model_args.model_name_or_path, trust_remote_code=True)
    return model, processor


def new_token_rows(config) -> dict[str, list[int]] | None:
    """PEFT `trainable_token_indices` for the tokens the builders added (`config.new_token_ids`): their rows of
    the input embeddings, and of the LM head when it is not tied to them. `<image>` is left out: visual tokens
    overwrite its input row in every forward and it is never a target, so training it would only cost time (a
    wrapped copy of the embedding matrix, ~0.5 s of a 4.5 s demo step)."""
    ids = [token for token in config.new_token_ids or [] if token != config.image_token_id]
    if not ids:
        return None
    rows = {"embed_tokens": ids}
    if not config.tie_word_embeddings:
        rows["lm_head"] = ids
    return rows


def trainable_connector_modules(model) -> list[str]:
    """The connector modules (projector, GAC) that have a trainable parameter: a projector frozen as unused
    (`gac_mode="replace"`) is left out, since `modules_to_save` would make a trainable copy of it."""
    return [name for name in CONNECTOR_MODULES
            if getattr(model.model, name, None) is not None
            and any(p.requires_grad for p in getattr(model.model, name).parameters())]


def apply_lora(model, model_args: ModelConfig):
    """LoRA on the language model only; the projector and GAC, where trainable, are trained in full
    (`modules_to_save`); the rows of added tokens (`<image>`, ChatML) train too (`trainable_token_indices`)."""
    config = LoraConfig(
        r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
        target_modules=model_args.lora_target_modules or LANGUAGE_MODEL_LORA_TARGETS,
        modules_to_save=trainable_connector_modules(model) or None, task_type="CAUSAL_LM",
        trainable_token_indices=new_token_rows(model.config),
    )
    return get_peft_model(model, config)


def training_data(script_args: IFASScriptArguments):
    """(train, eval or None): a protocol's source train/dev sets, or splits of the `--dataset_path` folders."""
    if script_args.protocol:
        if not script_args.data_root:
            raise ValueError("--protocol needs --data_root (the folder of built corpora, one per name)")
        data = load_protocol(script_args.protocol, script_args.data_root)
        return data.train, (data.dev if script_args.dataset_eval_split else None)
    if not script_args.dataset_path:
        raise ValueError("give at least one --dataset_path (a saved contract DatasetDict), or --protocol")
    train = load_training_split(script_args.dataset_path, script_args.dataset_train_split)
    if not script_args.dataset_eval_split:
        return train, None
    return train, load_training_split(script_args.dataset_path, script_args.dataset_eval_split)


def image_classes(rows) -> torch.Tensor:
    """0 for a live row, 1 + the index of its attack type (sorted) for a spoof row: the warm start's classes.

    >>> image_classes({"label": [0, 1, 1, 1], "attack_type": ["none", "replay", "print", "replay"]}).tolist()
    [0, 2, 1, 2]
    """
    attacks = sorted({attack for label, attack in zip(rows["label"], rows["attack_type"]) if label != LABEL_LIVE})
    return torch.tensor([0 if label == LABEL_LIVE else 1 + attacks.index(attack)
                         for label, attack in zip(rows["label"], rows["attack_type"])])


def prepare_connector(model, processor, train_dataset, script_args, vision_cache=None, seed: int = 0,
                      resuming: bool = False) -> None:
    """`--cache_vision_features` (a `VisionFeatureCache`, shared when given), `--calibrate_connector_images` and
    `--warm_start_connector_steps` (not when `resuming`: the checkpoint restores the trained connector). Call on
    every rank: under ZeRO-3 the connector's weights are gathered around the preparation (`connector_weights`)."""
    if script_args.cache_vision_features or vision_cache is not None:
        cache = vision_cache if vision_cache is not None else VisionFeatureCache(max_bytes=int(script_args.vision_cache_gib * 2**30))
        cache.attach(model)
    wanted = script_args.calibrate_connector_images or script_args.warm_start_connector_steps
    if resuming and wanted:
        logger.info("resuming: connector calibration and warm start skipped (the checkpoint holds the connector)")
        return
    if not wanted:
        return
    with connector_weights(model) as here:
        if here:
            calibrate_and_warm_start(model, processor, train_dataset, script_args, seed)
        else:
            logger.info("connector prepared on rank 0 only: FSDP broadcasts its weights when it wraps the model")


def calibrate_and_warm_start(model, processor, train_dataset, script_args, seed: int) -> None:
    """`--calibrate_connector_images` and `--warm_start_connector_steps` on a model whose weights are whole here."""
    count = min(script_args.calibrate_connector_images, len(train_dataset))
    if count:
        rows = train_dataset.shuffle(seed=0).select(range(count))
        pixel_values = processor.prepare_inputs(list(rows["image"]), crop_faces=False)["pixel_values"]  # crops already
        stats = calibrate_connector(model, pixel_values.to(model.device, model.dtype))
        logger.info("calibrated the connector on %d images: %s", count, stats)
    if script_args.warm_start_connector_steps and model.model.gac is None:
        logger.warning("--warm_start_connector_steps ignored: the model has no GAC")
    elif script_args.warm_start_connector_steps:
        rows = train_dataset.shuffle(seed=seed).select(range(min(script_args.warm_start_connector_images,
                                                                  len(train_dataset))))
        global_tokens, patch_features = encode_images(model, processor, rows["image"])
        stats = warm_start_connector(model, global_tokens, patch_features, image_classes(rows),
                                     script_args.warm_start_connector_steps, lr=script_args.warm_start_connector_lr,
                                     seed=seed)
        logger.info("warm-started the connector on %d images: %s", len(rows), stats)


def build_trainer(script_args, training_args, model_args, vision_cache=None) -> IFASSFTTrainer:
    """Everything `main` does before `train()`: data checks, model, freezing, connector, LoRA, trainer.
    `vision_cache`: a `VisionFeatureCache` to share between runs on the same frozen tower (the demo's seeds)."""
    set_seed(training_args.seed)
    sharded = sharded_training(training_args)
    if sharded and (script_args.cache_vision_features or vision_cache is not None):
        raise ValueError(f"--cache_vision_features cannot be used under {sharded}: the frozen tower's weights are "
                         "sharded, so its forward is a collective (all-gather) that every rank must run in step, "
                         "and ranks whose cache hits differ would hang; drop it, or train under DDP / ZeRO-2")
    PartialState()  # the process group, before the image check shares its work across the ranks
    train_dataset, eval_dataset = training_data(script_args)
    if script_args.check_images:
        train_dataset, skipped = drop_unreadable_images_across_ranks(train_dataset, "train")
        if skipped:
            logger.warning("skipped %d unreadable training image(s)", len(skipped))
    model, processor = load_model_and_processor(model_args, script_args)
    collator = IFASCollator(processor, max_length=training_args.max_length)
    check_captions(train_dataset, collator)
    check_lengths(train_dataset, collator)
    freeze(model, script_args)
    unused = freeze_unused_parameters(model)
    if unused:
        logger.info("froze %d parameter(s) that receive no gradient: %s", len(unused), unused[:4])
    prepare_connector(model, processor, train_dataset, script_args, vision_cache, seed=training_args.seed,
                      resuming=bool(training_args.resume_from_checkpoint))
    if model_args.use_peft:
        model = apply_lora(model, model_args)
    return IFASSFTTrainer(
        model=model, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        processing_class=processor, data_collator=collator,
    )


def save_final(trainer: IFASSFTTrainer, script_args: IFASScriptArguments) -> str:
    """Write the complete final checkpoint (LoRA merged when asked) into `output_dir`; call on every rank.

    The full tensors are gathered with `accelerator.get_state_dict` on all ranks (ZeRO-3, FSDP) and written by the
    main rank from a plain copy (`ifas.train.saving`); `--merge_lora false` saves the adapter through the Trainer."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload") and not script_args.merge_lora:
        trainer.save_model(trainer.args.output_dir)
        return trainer.args.output_dir
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    if trainer.accelerator.is_main_process:
        save_full_checkpoint(model, trainer.processing_class, trainer.args.output_dir, state_dict)
    return trainer.args.output_dir


def main(argv: list[str] | None = None) -> str:
    parser = TrlParser((IFASScriptArguments, IFASSFTConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    trainer = build_trainer(script_args, training_args, model_args)
    checkpoint = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=checkpoint)
    path = save_final(trainer, script_args)
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        logger.info("saved the final I-FAS checkpoint to %s", os.path.abspath(path))
    return path


if __name__ == "__main__":
    from ifas.cli.errors import run_cli

    raise SystemExit(run_cli(main))
