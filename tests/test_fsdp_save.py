"""Two gloo processes under FSDP2 train a tiny I-FAS, save through the trainer's save code, and the reloaded final
checkpoint equals a one-process run on the same global batches (fp32), with and without LoRA (merged on save).

accelerate ignores FSDP on CPU (it falls back to DDP), so the workers shard with torch's `fully_shard` and gather with
accelerate's own `Accelerator.get_state_dict`, called with a stand-in state that takes its FSDP2 branch."""

import os
import socket
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from accelerate import Accelerator
from torch.distributed.tensor import DTensor
from accelerate.utils import DistributedType
from safetensors.torch import load_file
from trl import ModelConfig

from ifas.train.saving import save_full_checkpoint
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from ifas.train.sft_data import IFASCollator
from tiny_dataset import tiny_contract_dataset
from train_sft import (IFASScriptArguments, answer_span_masks, apply_lora, freeze, freeze_unused_parameters,
                       lopsided_loss, lopsided_loss_terms)

STEPS, GLOBAL_BATCH, LR, ALPHA = 2, 4, 0.2, 0.7
FSDP2 = SimpleNamespace(distributed_type=DistributedType.FSDP, is_fsdp2=True)


def build(checkpoint: str, lora: bool):
    """What `build_trainer` does to the model: load, freeze (vision tower trainable here), LoRA."""
    model = IFASForConditionalGeneration.from_pretrained(checkpoint)
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    freeze(model, IFASScriptArguments(freeze_vision_tower=False))
    freeze_unused_parameters(model)
    if lora:
        torch.manual_seed(1)
        model = apply_lora(model, ModelConfig(use_peft=True, lora_r=4, lora_alpha=8, lora_dropout=0.0))
    return model.train(), processor


def train(model, processor, rank: int, world: int, backward=None, step=None) -> None:
    """`STEPS` SGD steps of the L-LM loss, each on the next `GLOBAL_BATCH` rows split evenly across ranks
    (`backward`/`step`: a DeepSpeed engine's, which owns the optimizer)."""
    rows = list(tiny_contract_dataset()["train"])
    collator = IFASCollator(processor)
    if step is None:
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LR)
        backward = lambda loss: loss.backward()  # noqa: E731

        def step():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    per_rank = GLOBAL_BATCH // world
    for index in range(STEPS):
        global_rows = rows[index * GLOBAL_BATCH:(index + 1) * GLOBAL_BATCH]
        judgment, interpretation = answer_span_masks(collator(global_rows)["labels"][:, 1:])
        batch = collator(global_rows[rank * per_rank:(rank + 1) * per_rank])
        labels = batch.pop("labels")
        terms = lopsided_loss_terms(model(**batch, use_cache=False).logits, labels)
        loss = lopsided_loss(terms, ALPHA, judgment.sum(), interpretation.sum()) * world  # ranks' gradients averaged
        backward(loss)
        step()


def shard(model) -> None:
    """FSDP2 units: vision layers, decoder layers, GAC blocks, then the root (what TRANSFORMER_BASED_WRAP does)."""
    from torch.distributed.fsdp import fully_shard

    layer_types = ("Dinov2Layer", "Qwen2DecoderLayer", "IFASGACBlock")
    for module in list(model.modules()):
        if type(module).__name__ in layer_types:
            fully_shard(module)
    fully_shard(model)
    assert all(isinstance(p, DTensor) for p in model.parameters())  # really sharded, not replicated


def worker(rank: int, world: int, port: int, checkpoint: str, out_root: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}")
    try:
        for lora in (False, True):
            model, processor = build(checkpoint, lora)
            shard(model)
            train(model, processor, rank, world)
            state_dict = Accelerator.get_state_dict(FSDP2, model)  # a collective, on every rank
            if rank == 0:
                save_full_checkpoint(model, processor, os.path.join(out_root, f"fsdp-lora{lora}"), state_dict)
            dist.barrier()
    finally:
        dist.destroy_process_group()
    leave_worker()


def leave_worker() -> None:
    """End a spawned gloo worker whose results are all in files, without the interpreter's teardown: there, a gloo
    thread still joinable once aborted a rank ("terminate called without an active exception", SIGABRT) after all
    its work was done."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fsdp_runs(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    mp.spawn(worker, args=(2, free_port(), tiny_checkpoint, str(out)), nprocs=2, join=True)
    return out


def assert_equals_single_process_run(saved, tiny_checkpoint: str, tmp_path, lora: bool) -> None:
    """The final folder `saved` of a sharded run holds full, plain I-FAS tensors equal (1e-5) to those of the same
    training in one process, saved the same way; the language model and GAC moved."""
    model, processor = build(tiny_checkpoint, lora)
    train(model, processor, rank=0, world=1)
    save_full_checkpoint(model, processor, str(tmp_path / "single"), model.state_dict())
    single = load_file(tmp_path / "single" / "model.safetensors")
    sharded = load_file(saved / "model.safetensors")
    start = load_file(os.path.join(tiny_checkpoint, "model.safetensors"))
    assert sharded.keys() == single.keys() == start.keys()  # full, plain I-FAS names (LoRA merged away)
    assert all(sharded[k].shape == start[k].shape for k in start)
    moved = {k for k in start if (single[k] - start[k]).abs().max() > 1e-4}
    assert any(k.startswith("model.language_model.") for k in moved)
    assert any(k.startswith("model.gac.") for k in moved)
    worst = max((sharded[k] - single[k]).abs().max().item() for k in single)
    assert worst <= 1e-5, worst
    reloaded = IFASForConditionalGeneration.from_pretrained(saved).state_dict()
    reference = IFASForConditionalGeneration.from_pretrained(tmp_path / "single").state_dict()
    assert reloaded.keys() == reference.keys()
    for name, tensor in reloaded.items():
        torch.testing.assert_close(tensor, reference[name], atol=1e-5, rtol=0)


@pytest.mark.parametrize("lora", [False, True])
def test_fsdp2_final_checkpoint_equals_single_process_run(fsdp_runs, tiny_checkpoint, tmp_path, lora):
    assert_equals_single_process_run(fsdp_runs / f"fsdp-lora{lora}", tiny_checkpoint, tmp_path, lora)
