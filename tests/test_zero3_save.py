"""Two gloo processes under DeepSpeed ZeRO-3 train a tiny I-FAS, save through the trainer's save code, and the
reloaded final checkpoint equals a one-process run (fp32), with and without LoRA. Skipped without deepspeed.

accelerate never runs DeepSpeed on a CPU-only machine (no process group, world size 1), so the workers call
`deepspeed.initialize` themselves and gather with accelerate's `Accelerator.get_state_dict` through a stand-in
state that takes its DeepSpeed branch. DeepSpeed JIT-compiles its CPU shared-memory op (g++) on first use."""

import os
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from accelerate import Accelerator
from accelerate.utils import DistributedType

from ifas.train.saving import save_full_checkpoint
from test_fsdp_save import GLOBAL_BATCH, LR, assert_equals_single_process_run, build, free_port, train

deepspeed = pytest.importorskip("deepspeed")

ZERO3 = {"train_micro_batch_size_per_gpu": GLOBAL_BATCH // 2, "gradient_accumulation_steps": 1,
         "zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
         "zero_allow_untested_optimizer": True, "gradient_clipping": 0.0}  # DeepSpeed clips at 1.0 by default


def worker(rank: int, world: int, port: int, checkpoint: str, out_root: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    deepspeed.init_distributed(dist_backend="gloo")
    for lora in (False, True):
        model, processor = build(checkpoint, lora)
        trainable = [p for p in model.parameters() if p.requires_grad]
        engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(trainable, lr=LR), config=ZERO3)
        assert all(p.numel() == 0 for p in engine.module.parameters() if hasattr(p, "ds_id"))  # partitioned
        train(engine, processor, rank, world, backward=engine.backward, step=engine.step)
        state = SimpleNamespace(distributed_type=DistributedType.DEEPSPEED, deepspeed_config=ZERO3)
        state_dict = Accelerator.get_state_dict(state, engine)  # a collective, on every rank
        if rank == 0:
            save_full_checkpoint(engine.module, processor, os.path.join(out_root, f"zero3-lora{lora}"), state_dict)
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def zero3_runs(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero3")
    mp.spawn(worker, args=(2, free_port(), tiny_checkpoint, str(out)), nprocs=2, join=True)
    return out


@pytest.mark.parametrize("lora", [False, True])
def test_zero3_final_checkpoint_equals_single_process_run(zero3_runs, tiny_checkpoint, tmp_path, lora):
    assert_equals_single_process_run(zero3_runs / f"zero3-lora{lora}", tiny_checkpoint, tmp_path, lora)
