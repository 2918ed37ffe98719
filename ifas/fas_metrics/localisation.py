"""Does a heat map point at the cue an explanation names? Pointing game and mass share against cue masks.

A heat map is a (rows, cols) grid over the square `box` of the image the model saw (`heatmap_ifas`); a cue mask is a
boolean image-sized array (`datasets_scripts.cue_masks`). Both are compared on the map's grid: each cell's
``coverage`` is the share of its pixels inside the mask.

* pointing game: the map's maximum cell lies within one cell (patch) of a cell the mask touches; a map with no
  positive value points nowhere (a miss);
* mass share: the map's mass inside the mask, sum(map x coverage) / sum(map).

Baselines on the same grid: ``centre`` (a Gaussian centre prior, sigma a quarter of the grid) and ``random`` (a
uniform random map, seeded).

Example:
    >>> import numpy as np
    >>> mask = np.zeros((8, 8), bool); mask[:2, 6:] = True            # top-right corner of the image
    >>> heatmap = np.zeros((4, 4)); heatmap[0, 2] = 1.0                 # peak one cell left of the mask's cell
    >>> coverage = mask_coverage(mask, [0, 0, 8, 8], (4, 4))
    >>> pointing_hit(heatmap, coverage), mass_share(heatmap, coverage)
    (True, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

MAPS = ("judgment", "explanation", "centre", "random")


def mask_coverage(mask: np.ndarray, box, grid: tuple[int, int]) -> np.ndarray:
    """Share of each grid cell's pixels inside `mask`, for a grid laid over `box` (x1, y1, x2, y2; image pixels,
    may reach outside the image, where the mask is False)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    height, width = mask.shape
    window = np.zeros((y2 - y1, x2 - x1), dtype=np.float64)
    ys, xs = slice(max(y1, 0), min(y2, height)), slice(max(x1, 0), min(x2, width))
    if ys.stop > ys.start and xs.stop > xs.start:
        window[ys.start - y1 : ys.stop - y1, xs.start - x1 : xs.stop - x1] = mask[ys, xs]
    rows, cols = grid
    row_edges = np.linspace(0, window.shape[0], rows + 1)
    col_edges = np.linspace(0, window.shape[1], cols + 1)
    coverage = np.zeros(grid)
    for r in range(rows):
        for c in range(cols):
            cell = window[int(row_edges[r]) : max(int(row_edges[r + 1]), int(row_edges[r]) + 1),
                          int(col_edges[c]) : max(int(col_edges[c + 1]), int(col_edges[c]) + 1)]
            coverage[r, c] = cell.mean() if cell.size else 0.0
    return coverage


def pointing_hit(heatmap: np.ndarray, coverage: np.ndarray, tolerance: int = 1) -> bool:
    """True when the map's maximum cell is within `tolerance` cells of a cell the mask touches."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if not heatmap.size or heatmap.max() <= 0:
        return False
    row, col = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    near = coverage[max(row - tolerance, 0) : row + tolerance + 1, max(col - tolerance, 0) : col + tolerance + 1]
    return bool((near > 0).any())


def mass_share(heatmap: np.ndarray, coverage: np.ndarray) -> float:
    """The share of the map's (positive) mass that lies inside the mask."""
    mass = np.clip(np.asarray(heatmap, dtype=np.float64), 0, None)
    total = mass.sum()
    return float((mass * coverage).sum() / total) if total > 0 else 0.0


def centre_prior(grid: tuple[int, int]) -> np.ndarray:
    """A Gaussian bump on the grid's centre, sigma a quarter of the grid (the 'faces are in the middle' guess)."""
    rows, cols = grid
    y = (np.arange(rows) + 0.5 - rows / 2) / (rows / 4)
    x = (np.arange(cols) + 0.5 - cols / 2) / (cols / 4)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def localisation(maps: Mapping[str, np.ndarray], mask: np.ndarray, box, rng: np.random.Generator) -> dict:
    """Pointing hit and mass share of each map in `maps` (e.g. judgment, explanation) and of the two baselines
    for one image: ``{map: {"hit": bool, "mass": float}}``."""
    grid = np.asarray(next(iter(maps.values()))).shape
    coverage = mask_coverage(mask, box, grid)
    every = {**maps, "centre": centre_prior(grid), "random": rng.random(grid)}
    return {name: {"hit": pointing_hit(heatmap, coverage), "mass": mass_share(heatmap, coverage)}
            for name, heatmap in every.items()}


def aggregate(samples: Iterable[Mapping]) -> dict:
    """Per family and ``all``: n, and per map the pointing-game rate and mean mass share, and the median evidence
    ``share`` (`heatmap_ifas.evidence_share`) where every sample's map has one.

    Each sample has ``family`` and ``localisation`` (`localisation`'s output, a map's entry optionally with its
    ``share``)."""
    groups: dict[str, list[Mapping]] = {}
    for sample in samples:
        groups.setdefault(sample["family"], []).append(sample["localisation"])
        groups.setdefault("all", []).append(sample["localisation"])
    out = {}
    for family, items in sorted(groups.items()):
        names = [name for name in MAPS if name in items[0]]
        out[family] = {"n": len(items)} | {
            name: {"pointing": float(np.mean([item[name]["hit"] for item in items])),
                   "mass": float(np.mean([item[name]["mass"] for item in items]))}
            | ({"share": float(np.median([item[name]["share"] for item in items]))}
               if all("share" in item[name] for item in items) else {})
            for name in names
        }
    return out
