"""CPU speed-ups for scoring: dynamic int8 for the Linear layers of the vision tower and the language model.

`quantize_for_cpu(model)` swaps every `nn.Linear` of the vision tower and of the language model's decoder for
`torch.ao` dynamic-int8 Linear (int8 weights, activations quantized per batch; fbgemm kernels on x86). The
connector (GAC, projector) and the LM head stay fp32: they are small, and the head's two judgment logits are what
P(live) is read from. The quantized model scores and explains as before (`score`, `judge`, the pipeline); it
cannot be trained or saved as a checkpoint. `bench/bench_predict.py` reports the speed and the AUC cost.

Example:
    >>> from ifas.model_builders import tiny_ifas
    >>> model, processor = tiny_ifas("dinov2", seed=0)
    >>> quantized = quantize_for_cpu(model)
    >>> count_int8_linears(quantized) == count_linears(model.model.vision_tower) + count_linears(
    ...     model.model.language_model)
    True
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn


def count_linears(module: nn.Module) -> int:
    """The number of `nn.Linear` modules in `module`."""
    return sum(isinstance(child, nn.Linear) for child in module.modules())


def count_int8_linears(module: nn.Module) -> int:
    """The number of dynamic-int8 Linear modules in `module`."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    return sum(isinstance(child, DynamicInt8Linear) for child in module.modules())


def quantize_for_cpu(model: nn.Module, inplace: bool = False) -> nn.Module:
    """`model` (an `IFASForConditionalGeneration` on CPU, fp32) with dynamic-int8 Linear layers in its vision tower
    and language model; a copy unless `inplace`. Raises `ValueError` for a model on another device or dtype."""
    parameter = next(model.parameters())
    if parameter.device.type != "cpu" or parameter.dtype != torch.float32:
        raise ValueError(f"dynamic int8 needs an fp32 model on CPU; this one is {parameter.dtype} on "
                         f"{parameter.device}")
    if "fbgemm" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "fbgemm"
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    inner = model.model
    with warnings.catch_warnings():  # torch.ao marks quantized tensor creation deprecated; the kernels are current
        warnings.simplefilter("ignore", UserWarning)
        for name in ("vision_tower", "language_model"):
            quantized = torch.ao.quantization.quantize_dynamic(getattr(inner, name), {nn.Linear}, dtype=torch.qint8)
            setattr(inner, name, quantized)
    return model
