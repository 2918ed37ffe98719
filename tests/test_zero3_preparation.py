"""Two gloo processes under DeepSpeed ZeRO-3 with `zero3_init_flag` (from_pretrained builds inside
`deepspeed.zero.Init`): the connector's calibration and warm start run on the partitioned model (gathered around them)
and equal the same preparation in one process. Skipped without deepspeed (as test_zero3_save.py)."""

import os

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import save_file

from test_fsdp_save import free_port
from test_sharded_preparation import PREPARATION, assert_gac_equals_one_process
from tiny_dataset import tiny_contract_dataset
from train_sft import IFASScriptArguments, freeze, prepare_connector

deepspeed = pytest.importorskip("deepspeed")

ZERO3 = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 3}}


def worker(rank: int, world: int, port: int, checkpoint: str, out: str) -> None:
    from transformers.integrations import HfDeepSpeedConfig

    from modeling_ifas import IFASForConditionalGeneration
    from processing_ifas import IFASProcessor

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    deepspeed.init_distributed(dist_backend="gloo")
    config = HfDeepSpeedConfig(ZERO3)  # kept alive: from_pretrained builds inside deepspeed.zero.Init
    model = IFASForConditionalGeneration.from_pretrained(checkpoint)
    assert all(p.numel() == 0 for p in model.model.gac.parameters())  # partitioned
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    freeze(model, IFASScriptArguments())
    torch.manual_seed(0)
    prepare_connector(model, processor, tiny_contract_dataset()["train"], PREPARATION, seed=0)
    with deepspeed.zero.GatheredParameters(list(model.model.gac.parameters())):
        if rank == 0:
            save_file({f"model.gac.{name}": p.detach().clone() for name, p in model.model.gac.named_parameters()},
                      os.path.join(out, "gac.safetensors"))
    del config
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def zero3_run(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero3_preparation")
    mp.spawn(worker, args=(2, free_port(), tiny_checkpoint, str(out)), nprocs=2, join=True)
    return out


def test_connector_prepared_under_zero3_init_equals_one_process(zero3_run, tiny_checkpoint):
    assert_gac_equals_one_process(zero3_run / "gac.safetensors", tiny_checkpoint)
