"""The cue-mask side dataset: where each simulated cue is in a SynthFAS spoof image (ground truth for heat maps).

The data contract (`datasets_scripts.contract`) is unchanged, for SynthFAS and every real corpus: cue masks are a
separate `datasets.Dataset` saved in `<corpus>/cue_masks`, one row per (image, cue) with the contract row's key
(`dataset`, `video_id`, `frame_index`), the cue name (`datasets_scripts.synth.cues.CUES`) and a 1-bit PNG mask of
the image's size (white = the cue). Live images have no rows. Corpora without cue masks simply lack the folder.

Example:
    >>> import numpy as np
    >>> from datasets_scripts.cue_masks import cue_mask_rows, masks_by_image
    >>> mask = np.zeros((4, 4), bool); mask[1, 2] = True
    >>> rows = cue_mask_rows("synth_d", "synth_d-00007", 0, {"glare": mask})
    >>> found = masks_by_image(rows)[("synth_d", "synth_d-00007", 0)]
    >>> sorted(found), int(found["glare"].sum())
    (['glare'], 1)
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from datasets import Dataset, Features, Image, Value, load_from_disk
from PIL import Image as PILImage

CUE_MASKS_DIR = "cue_masks"
CUE_MASK_FEATURES = Features(
    {
        "dataset": Value("string"),
        "video_id": Value("string"),
        "frame_index": Value("int64"),
        "cue": Value("string"),
        "mask": Image(),
    }
)


def _png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(mask, bool)).save(buffer, format="PNG")
    return buffer.getvalue()


def cue_mask_rows(dataset: str, video_id: str, frame_index: int, masks: dict[str, np.ndarray]) -> list[dict]:
    """Side-dataset rows of one image's cue masks (boolean HxW arrays), one per cue."""
    return [
        {"dataset": dataset, "video_id": video_id, "frame_index": int(frame_index), "cue": cue,
         "mask": {"bytes": _png(mask), "path": None}}
        for cue, mask in sorted(masks.items())
    ]


def save_cue_masks(rows: list[dict], corpus_dir: str | os.PathLike) -> Path:
    """Save the rows as `<corpus_dir>/cue_masks`; return that folder."""
    out = Path(corpus_dir) / CUE_MASKS_DIR
    columns = {column: [row[column] for row in rows] for column in CUE_MASK_FEATURES}
    Dataset.from_dict(columns, features=CUE_MASK_FEATURES).save_to_disk(str(out))
    return out


def _as_bool(mask) -> np.ndarray:
    if isinstance(mask, dict):
        mask = PILImage.open(io.BytesIO(mask["bytes"]))
    return np.asarray(mask.convert("L") if isinstance(mask, PILImage.Image) else mask) > 0


def masks_by_image(rows) -> dict[tuple[str, str, int], dict[str, np.ndarray]]:
    """(dataset, video_id, frame_index) -> {cue: boolean mask} from side-dataset rows (a list or a `Dataset`)."""
    found: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
    for row in rows:
        key = (row["dataset"], row["video_id"], int(row["frame_index"]))
        found.setdefault(key, {})[row["cue"]] = _as_bool(row["mask"])
    return found


def load_cue_masks(corpus_dir: str | os.PathLike) -> dict[tuple[str, str, int], dict[str, np.ndarray]]:
    """The cue masks saved beside a corpus (`masks_by_image`); a clear error when the corpus has none."""
    folder = Path(corpus_dir) / CUE_MASKS_DIR
    if not (folder / "dataset_info.json").exists():
        raise FileNotFoundError(f"{corpus_dir}: no cue masks (no {CUE_MASKS_DIR}/ folder; SynthFAS builds write one)")
    return masks_by_image(load_from_disk(str(folder)))
