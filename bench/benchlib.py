"""Shared helpers of the benchmark scripts: the small model config, memory readings, BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


def section(title: str, body: str) -> str:
    """Markdown of one BENCHMARKS.md section."""
    return f"## {title}\n\n{body.strip()}\n"


def proc_status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM = peak RSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def machine_line() -> str:
    import torch

    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), Python "
            f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads")


def small_config(**overrides):
    """The ~100M-parameter benchmark config: DINOv2 ViT-S/14 shape at 224 px + a 12-layer SmolLM2-width Llama."""
    from configuration_ifas import IFASConfig

    text = dict(model_type="llama", vocab_size=49153, hidden_size=576, intermediate_size=1536, num_hidden_layers=12,
                num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    return IFASConfig(text_config=text, image_size=224, gac_num_queries=32, **overrides)


def write_section(section: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) a `## heading` section of BENCHMARKS.md (the first line of `section` is the heading),
    re-reading the file just before writing so concurrent benchmarks do not overwrite each other's sections."""
    heading = section.splitlines()[0].rstrip()
    if not heading.startswith("## "):
        raise ValueError(f"a section must start with a '## ' heading, got {heading!r}")
    section = section.strip() + "\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.write_text(new, encoding="utf-8")
