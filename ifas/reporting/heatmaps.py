"""Heat-map figures and tables of an evaluation report: a grid of overlays per attack family, and the localisation
table (pointing game and mass share against cue masks, with baselines; `ifas.fas_metrics.localisation`).

Example:
    >>> paths = write_heatmap_grids("synth_d", dataset, samples, "report/")  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['heatmaps_synth_d_mask.png', 'heatmaps_synth_d_none.png', 'heatmaps_synth_d_print.png', ...]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from heatmap_ifas import overlay
from image_io_ifas import load_image

TILE = 128
CAPTION = 28


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "target"


def _tile(image: Image.Image, sample: Mapping) -> Image.Image:
    """The image's crop with the judgment map over it, captioned with the answer and the cues it names."""
    shown = overlay(image, sample["heatmap"], sample["heatmap_box"]).resize((TILE, TILE), Image.Resampling.BILINEAR)
    tile = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    tile.paste(shown, (0, 0))
    draw = ImageDraw.Draw(tile)
    hit = sample.get("localisation", {}).get("judgment", {}).get("hit")
    mark = "" if hit is None else (" hit" if hit else " miss")
    draw.text((2, TILE + 1), f"{sample['judgment']} P={sample['p_live']:.2f}{mark}", fill="black")
    draw.text((2, TILE + 14), ",".join(sample.get("named_cues", [])) or "-", fill="black")
    return tile


def write_heatmap_grids(target: str, dataset, samples: Sequence[Mapping], out_dir: str | Path,
                        per_row: int = 6) -> list[Path]:
    """One PNG per attack family, ``heatmaps_<target>_<family>.png``: the samples' overlays in rows of `per_row`.

    `samples` are `ifas.evaluation.explain_samples` samples answered with heat maps (``row`` indexes `dataset`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_family: dict[str, list[Mapping]] = {}
    for sample in samples:
        if "heatmap" in sample:
            by_family.setdefault(sample["attack_type"], []).append(sample)
    paths = []
    for family, group in sorted(by_family.items()):
        tiles = [_tile(load_image(dataset[int(sample["row"])]["image"]), sample) for sample in group]
        rows = (len(tiles) + per_row - 1) // per_row
        sheet = Image.new("RGB", (per_row * TILE, rows * (TILE + CAPTION)), "white")
        for index, tile in enumerate(tiles):
            sheet.paste(tile, ((index % per_row) * TILE, (index // per_row) * (TILE + CAPTION)))
        path = out_dir / f"heatmaps_{_slug(target)}_{_slug(family)}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def localisation_markdown(by_target: Mapping[str, Mapping]) -> list[str]:
    """Markdown lines: per target and family, pointing game and mass share (%) of the judgment and explanation
    maps and of the centre-prior and random baselines."""
    maps = ("judgment", "explanation", "centre", "random")
    lines = [
        "## Where the maps point (spoof answers naming a cue that has a mask)",
        "",
        "Pointing game: the map's maximum within one patch of the named cues' mask; mass: the map's share inside "
        "it. Judgment map from the Yes/No margin, explanation map from the cue words; baselines: a centre prior and "
        "a uniform random map.",
        "",
        "| Target | Family | n | " + " | ".join(f"{m} pointing | {m} mass" for m in maps) + " |",
        "|---|---|---|" + "---|" * (2 * len(maps)),
    ]
    shares = []
    for target, families in by_target.items():
        for family, rates in families.items():
            cells = [f"{100 * rates[m]['pointing']:.0f} | {100 * rates[m]['mass']:.0f}" for m in maps]
            lines.append(f"| {target} | {family} | {rates['n']} | " + " | ".join(cells) + " |")
        every = families.get("all", {})
        if all("share" in every.get(m, {}) for m in ("judgment", "explanation")):
            shares.append(f"{target}: judgment map {every['judgment']['share']:.2g}, explanation map "
                          f"{every['explanation']['share']:.2g}")
    if shares:
        lines += ["", "Evidence the maps show (median `heatmap_share`: the share of the answer's first-order evidence "
                  "that passes through the patch features; near 0, the answer came through the GAC's global tokens "
                  "and the maps are noise): " + "; ".join(shares) + "."]
    return lines
