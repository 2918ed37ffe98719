"""Two gloo processes, FSDP2 via torch's `fully_shard` (as test_fsdp_save.py): the steps of `train_sft.py` that run
before or around the sharded Trainer.

- Connector preparation under FSDP's `cpu_ram_efficient_loading` (the config of configs/accelerate/fsdp.yaml): rank 1
  holds the model on the meta device, as transformers loads it there; calibration and warm start run on rank 0 and
  reach rank 1 through accelerate's broadcast of rank 0's state dict (`fsdp2_load_full_state_dict`), equal to the
  same preparation in one process.
- A tied LM head stays tied in the final checkpoint gathered from FSDP2 (LoRA merged, added-token rows trained).
- The vision cache refuses a sharded tower.
- The training images are decoded once across the ranks, each rank its share, and all drop the same rows."""

import json
import os
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from accelerate import Accelerator, init_empty_weights
from accelerate.utils.fsdp_utils import fsdp2_load_full_state_dict
from datasets import Dataset
from safetensors.torch import load_file, save_file

from ifas.train.saving import save_full_checkpoint
from ifas.train.vision_cache import VisionFeatureCache
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from test_fsdp_save import FSDP2, free_port, leave_worker, shard
from test_scale_defects import LORA, tied_tiny_ifas
from tiny_dataset import tiny_contract_dataset
from train_sft import IFASScriptArguments, apply_lora, freeze, prepare_connector

PREPARATION = IFASScriptArguments(calibrate_connector_images=6, warm_start_connector_steps=3,
                                  warm_start_connector_images=8)


def prepared_gac(checkpoint: str, rank: int) -> dict:
    """Rank 0 loads the checkpoint, rank 1 builds on meta; both prepare the connector, shard, and receive rank 0's
    state dict; returns the full GAC tensors (on rank 0)."""
    processor = IFASProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    if rank == 0:
        model = IFASForConditionalGeneration.from_pretrained(checkpoint)
    else:
        with init_empty_weights():
            model = IFASForConditionalGeneration(IFASForConditionalGeneration.config_class.from_pretrained(checkpoint))
    freeze(model, IFASScriptArguments())
    torch.manual_seed(0)  # the warm start's probe is drawn from the global generator (build_trainer seeds it)
    prepare_connector(model, processor, tiny_contract_dataset()["train"], PREPARATION, seed=0)
    full_state = model.state_dict()  # only rank 0's is read
    model = model.to(torch.device("meta"))
    shard(model)
    fsdp2_load_full_state_dict(SimpleNamespace(is_main_process=rank == 0, device=torch.device("cpu")), model, full_state)
    state_dict = Accelerator.get_state_dict(FSDP2, model)
    return {key: value for key, value in state_dict.items() if key.startswith("model.gac.")}


def unreadable_rows_check(rank: int, out: str) -> None:
    """Every third image is broken; each rank decodes only its rows."""
    import ifas.train.image_check as image_check

    rows = list(tiny_contract_dataset(n_per_split=7)["train"])
    for i in range(0, len(rows), 3):
        rows[i]["image"] = {"bytes": b"not an image", "path": None}
    dataset = Dataset.from_list(rows, features=tiny_contract_dataset()["train"].features)
    decoded = []
    original = image_check.load_image
    image_check.load_image = lambda image: decoded.append(1) or original(image)
    kept, problems = image_check.drop_unreadable_images_across_ranks(dataset, "train")
    image_check.load_image = original
    with open(os.path.join(out, f"images-{rank}.json"), "w") as file:
        json.dump({"decoded": len(decoded), "kept": list(kept["video_id"]), "problems": problems}, file)


def worker(rank: int, world: int, port: int, checkpoint: str, out: str) -> None:
    os.environ.update(OMP_NUM_THREADS="1", ACCELERATE_USE_FSDP="true", FSDP_CPU_RAM_EFFICIENT_LOADING="true")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}")
    try:
        gac = prepared_gac(checkpoint, rank)
        if rank == 0:
            save_file({k: v.contiguous() for k, v in gac.items()}, os.path.join(out, "gac.safetensors"))

        model, processor = tied_tiny_ifas()
        model = apply_lora(model, LORA)
        with torch.no_grad():
            torch.manual_seed(3)
            for name, parameter in model.named_parameters():
                if "lora_B" in name or "trainable_tokens_delta" in name:  # as if trained
                    parameter.normal_(std=0.1)
        shard(model)
        state_dict = Accelerator.get_state_dict(FSDP2, model)
        if rank == 0:
            save_full_checkpoint(model, processor, os.path.join(out, "tied"), state_dict)
        refused = ""
        try:
            VisionFeatureCache().attach(model)
        except ValueError as error:
            refused = str(error)
        with open(os.path.join(out, f"cache-{rank}.txt"), "w") as file:
            file.write(refused)

        unreadable_rows_check(rank, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    leave_worker()


@pytest.fixture(scope="module")
def sharded_run(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    mp.spawn(worker, args=(2, free_port(), tiny_checkpoint, str(out)), nprocs=2, join=True)
    return out


def test_connector_prepared_under_cpu_ram_efficient_loading_equals_one_process(sharded_run, tiny_checkpoint):
    assert_gac_equals_one_process(sharded_run / "gac.safetensors", tiny_checkpoint)


def assert_gac_equals_one_process(saved, tiny_checkpoint: str) -> None:
    """The GAC tensors in the file `saved` equal the same connector preparation in one process; they moved."""
    model = IFASForConditionalGeneration.from_pretrained(tiny_checkpoint)
    processor = IFASProcessor.from_pretrained(tiny_checkpoint, trust_remote_code=True)
    freeze(model, IFASScriptArguments())
    start = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("model.gac.")}
    torch.manual_seed(0)
    prepare_connector(model, processor, tiny_contract_dataset()["train"], PREPARATION, seed=0)
    sharded = load_file(saved)
    assert sharded.keys() == start.keys()
    assert not torch.equal(sharded["model.gac.global_shift"], start["model.gac.global_shift"])
    for name, tensor in model.state_dict().items():
        if name in sharded:
            torch.testing.assert_close(sharded[name], tensor, atol=1e-5, rtol=1e-4)  # fp32, 3 AdamW steps, other thread count


def test_a_tied_head_stays_tied_in_the_fsdp2_final_checkpoint(sharded_run):
    assert "lm_head.weight" not in load_file(sharded_run / "tied" / "model.safetensors")
    reloaded = IFASForConditionalGeneration.from_pretrained(sharded_run / "tied")
    assert reloaded.config.tie_word_embeddings
    assert reloaded.lm_head.weight is reloaded.get_input_embeddings().weight


def test_the_vision_cache_refuses_a_sharded_tower(sharded_run):
    for rank in (0, 1):
        assert "cannot serve a sharded vision tower" in (sharded_run / f"cache-{rank}.txt").read_text()


def test_training_images_are_decoded_once_across_the_ranks(sharded_run):
    results = [json.loads((sharded_run / f"images-{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["decoded"] for r in results] == [4, 3]  # rows 0, 2, 4, 6 and 1, 3, 5
    broken = {0, 3, 6}
    for result in results:
        assert result["kept"] == [f"train_{i}" for i in range(7) if i not in broken]
        assert [p.split(":")[0] for p in result["problems"]] == [f"train row {i}" for i in sorted(broken)]
