"""Load an I-FAS checkpoint for inference, refusing one that would score wrong, with the file and the problem named.

`load_checkpoint(path)` is what `ifas predict`, `ifas evaluate` (`ifas.evaluation.load_model`) and the app load with:
- a `path` that is no folder and no valid Hub repo id is "no such checkpoint folder: PATH" (not a Hub error);
- `config.json` missing, not JSON, or with invalid values (a `threshold` outside (0, 1), ...) names that file;
- no weights file, a corrupt one, or one missing parameters names the weights file (transformers would otherwise
  fill missing parameters with random values);
- the model's `judgment_token_ids` must be the tokenizer's ids of its `judgment_words`
  (`validation_ifas.check_checkpoint`): swapped ids would invert every P(live).

Example:
    >>> load_checkpoint("/no/such/folder")
    Traceback (most recent call last):
    ...
    ValueError: no such checkpoint folder: /no/such/folder
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError

from configuration_ifas import IFASConfig
from modeling_ifas import IFASForConditionalGeneration
from processing_ifas import IFASProcessor
from validation_ifas import check_checkpoint

WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def is_hub_id(path: str) -> bool:
    """Whether `path` could name a Hub repository ("org/name"); a path with more parts, or absolute, cannot.

    >>> is_hub_id("org/ifas"), is_hub_id("/data/ifas"), is_hub_id("outputs/demo/checkpoint")
    (True, False, False)
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if str(path).startswith(("/", ".", "~")) or "\\" in str(path):
        return False
    try:
        validate_repo_id(str(path))
    except HFValidationError:
        return False
    return True


def _check_folder(folder: Path) -> None:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{config_file}: no such file (not a checkpoint folder?)")
    try:
        json.loads(config_file.read_text(encoding="utf-8"))
        IFASConfig.from_pretrained(folder)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{config_file}: invalid checkpoint config ({error})") from None
    if not any((folder / name).is_file() for name in WEIGHTS_FILES):
        raise ValueError(f"{folder}: no weights file ({WEIGHTS_FILES[0]}) in the checkpoint folder")


def _weights_name(folder: Path) -> str:
    return str(next((folder / name for name in WEIGHTS_FILES if (folder / name).is_file()), folder))


def load_checkpoint(path: str, device: str = "cpu", dtype: str = "float32"):
    """(model, processor) of the checkpoint at `path` (folder or Hub id) on `device` in eval mode; `ValueError`
    naming the file for a checkpoint that cannot be trusted (see the module docstring)."""
    folder = Path(path).expanduser()
    local = folder.is_dir()
    if not local:
        if folder.exists() or not is_hub_id(str(path)):
            raise ValueError(f"no such checkpoint folder: {path}")
    else:
        _check_folder(folder)
    source = str(folder) if local else str(path)
    weights = _weights_name(folder) if local else f"checkpoint {path!r}"
    try:
        model, info = IFASForConditionalGeneration.from_pretrained(source, dtype=getattr(torch, dtype),
                                                                   output_loading_info=True)
    except (OSError, SafetensorError, RuntimeError, ValueError) as error:
        if not local:
            raise ValueError(f"no such checkpoint folder: {path} (nor a loadable Hub repo: {error})") from None
        raise ValueError(f"{weights}: corrupt or unreadable weights ({error})") from None
    if info["missing_keys"]:
        missing = sorted(info["missing_keys"])
        raise ValueError(f"{weights}: {len(missing)} parameter(s) missing from the weights, e.g. {missing[:3]}")
    try:
        processor = IFASProcessor.from_pretrained(source, trust_remote_code=True)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ValueError(f"checkpoint {source!r}: cannot load its processor or tokenizer ({error})") from None
    try:
        check_checkpoint(model, processor)
    except ValueError as error:
        raise ValueError(f"checkpoint {source!r}: {error}") from None
    return model.to(device).eval(), processor


__all__ = ["load_checkpoint", "is_hub_id"]
