"""What the steps before the Trainer may do when parameters are sharded (DeepSpeed ZeRO-3, FSDP).

`train_sft.py` prepares the connector (`--calibrate_connector_images`, `--warm_start_connector_steps`) on the model
as loaded, before the Trainer wraps it. Under a sharded config that model is not whole on every rank:
- DeepSpeed ZeRO-3 with `zero3_init_flag: true`: `from_pretrained` builds inside `deepspeed.zero.Init`, every
  parameter is a local partition (`ds_id`, zero elements) on every rank;
- FSDP with `cpu_ram_efficient_loading: true`: only local rank 0 reads the weights, the other ranks hold them on the
  meta device (or empty), and accelerate broadcasts rank 0's state dict to all ranks when it wraps the model
  (`fsdp2_load_full_state_dict`, FSDP1's `sync_module_states`).
`connector_weights` makes the preparation correct under both: ZeRO-3 partitions are gathered around it
(`deepspeed.zero.GatheredParameters`, rank 0's result kept on every rank when they are partitioned again); under
FSDP's `cpu_ram_efficient_loading` it runs on rank 0 only, since the broadcast replaces every rank's values with
rank 0's.

`sharded_training` names the sharded config of a run before its model exists, for the steps that cannot be made
collective-safe (`--cache_vision_features`).

Example:
    >>> with connector_weights(model) as here:  # doctest: +SKIP
    ...     if here:
    ...         calibrate_connector(model, pixel_values)
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch.distributed as dist
from torch import nn

from ifas.train.vision_cache import _inner_model


def _env_true(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def sharded_training(training_args) -> str | None:
    """'DeepSpeed ZeRO-3' or 'FSDP' when the run's parameters are sharded across ranks, else None."""
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        return "DeepSpeed ZeRO-3"
    if getattr(training_args, "fsdp", None) or _env_true("ACCELERATE_USE_FSDP"):
        return "FSDP"
    return None


def connector_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the connector's preparation reads or writes: vision tower, GAC, LLM input embeddings."""
    inner = _inner_model(model)
    modules = [inner.vision_tower, inner.get_input_embeddings()] + ([inner.gac] if inner.gac is not None else [])
    return [p for module in modules for p in module.parameters()]


@contextmanager
def connector_weights(model: nn.Module):
    """Yields whether the connector's data-dependent preparation runs on this process (see the module docstring).

    Call on every rank: under ZeRO-3 the gathering is a collective. Raises `ValueError` for weights on meta outside
    FSDP's `cpu_ram_efficient_loading`, where nothing would fill them in."""
    parameters = connector_parameters(model)
    if any(hasattr(p, "ds_id") for p in parameters):
        import deepspeed

        with deepspeed.zero.GatheredParameters(parameters, modifier_rank=0):
            yield True
    elif _env_true("ACCELERATE_USE_FSDP") and _env_true("FSDP_CPU_RAM_EFFICIENT_LOADING"):
        yield not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    elif any(p.is_meta for p in parameters):
        raise ValueError("the model's weights are on the meta device and no FSDP cpu_ram_efficient_loading "
                         "broadcast will fill them: cannot prepare the connector")
    else:
        yield True
