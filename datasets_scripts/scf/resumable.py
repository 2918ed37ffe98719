"""Resumable, process-sharded captioning of dataset rows: finished shards are kept, a rerun skips them.

The target rows are cut into fixed shards of `shard_size` rows (`shard-000000.jsonl`, ...) under `work_dir`. Each
shard is written atomically once all its rows are captioned, so an interruption loses at most the shards in flight
and a rerun produces the same captions as an uninterrupted run. Pending shards are split between processes with
accelerate's `PartialState().split_between_processes` (launch with `accelerate launch` or `torchrun`;
`ifas.infer.sharded.process_state`), so N processes make the same shard files as one.
A row whose image cannot be read or captioned is logged and gets an empty caption (the filter then rejects it).

Example:
    >>> captions = caption_resumable(ds, [0, 1, 2], captioner.caption, "work/general/train",
    ...                              settings=captioner.settings)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from accelerate import PartialState
from datasets import Dataset
from tqdm.auto import tqdm

from ifas.infer.sharded import process_state

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def _shard_path(work_dir: Path, shard: int) -> Path:
    return work_dir / f"shard-{shard:06d}.jsonl"


def _check_manifest(work_dir: Path, manifest: dict, state: PartialState) -> None:
    path = work_dir / MANIFEST
    if state.is_main_process and not path.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=1))
    state.wait_for_everyone()
    found = json.loads(path.read_text())
    if found != manifest:
        raise ValueError(
            f"{path}: these caption shards were made for other rows or settings ({found}); now {manifest}. "
            "Use another work directory or delete this one."
        )


def _read_rows(ds: Dataset, indices: Sequence[int]) -> tuple[list[dict | None], list[str]]:
    rows, errors = [], []
    subset = ds.select(indices)
    for position, index in enumerate(indices):
        try:
            rows.append(subset[position])
        except Exception as error:  # a corrupt image must not stop the whole job
            logger.warning("row %d: cannot read (%s); it gets no caption", index, error)
            rows.append(None)
            errors.append(repr(error))
    return rows, errors


def _checked(caption_fn: Callable[[list[dict]], list[str]], rows: list[dict]) -> list[str]:
    captions = list(caption_fn(rows)) if rows else []
    if len(captions) != len(rows):
        raise ValueError(f"captioner returned {len(captions)} captions for {len(rows)} rows")
    return captions


def _caption_shard(ds: Dataset, indices: Sequence[int], caption_fn: Callable[[list[dict]], list[str]]) -> list[str]:
    rows, errors = _read_rows(ds, indices)
    good = [row for row in rows if row is not None]
    try:
        captions = iter(_checked(caption_fn, good))
        return [next(captions) if row is not None else "" for row in rows]
    except Exception as error:
        logger.warning("batch of %d rows failed (%s); captioning them one by one", len(good), error)
    result = []
    for index, row in zip(indices, rows):
        if row is None:
            result.append("")
            continue
        try:
            result.append(_checked(caption_fn, [row])[0])
        except Exception as error:
            logger.warning("row %d: captioning failed (%s); it gets no caption", index, error)
            errors.append(repr(error))
            result.append("")
    if len(errors) == len(indices):
        raise RuntimeError(f"every row of a shard failed; the captioner looks broken. First error: {errors[0]}")
    return result


def caption_resumable(
    ds: Dataset,
    indices: Sequence[int],
    caption_fn: Callable[[list[dict]], list[str]],
    work_dir: str | os.PathLike,
    *,
    settings: dict,
    shard_size: int = 64,
    desc: str = "captioning",
) -> list[str]:
    """Captions for `ds` rows `indices` (in that order), made shard by shard under `work_dir` and reused on rerun.

    `caption_fn` maps a list of decoded rows to their captions; `settings` (e.g. the captioner's name and prompt
    mode) is recorded in the manifest, and a rerun with other rows or settings raises instead of mixing results.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    work_dir = Path(work_dir)
    indices = [int(i) for i in indices]
    state = process_state()
    manifest = {
        "settings": settings,
        "shard_size": shard_size,
        "rows": len(indices),
        "indices_sha1": hashlib.sha1(json.dumps(indices).encode()).hexdigest(),
    }
    _check_manifest(work_dir, manifest, state)
    shards = [indices[start:start + shard_size] for start in range(0, len(indices), shard_size)]
    pending = [s for s in range(len(shards)) if not _shard_path(work_dir, s).exists()]
    if len(pending) < len(shards):
        logger.info("%s: %d of %d shards already done in %s", desc, len(shards) - len(pending), len(shards), work_dir)
    state.wait_for_everyone()  # every process has listed the pending shards before any is written
    with state.split_between_processes(pending) as mine:
        for shard in tqdm(mine, desc=desc, disable=not state.is_local_main_process):
            captions = _caption_shard(ds, shards[shard], caption_fn)
            path = _shard_path(work_dir, shard)
            tmp = path.with_name(f".{path.name}.{state.process_index}.tmp")
            with tmp.open("w") as handle:
                for index, caption in zip(shards[shard], captions):
                    handle.write(json.dumps({"index": index, "caption": caption}) + "\n")
            os.replace(tmp, path)
    state.wait_for_everyone()
    by_index = {}
    for shard in range(len(shards)):
        path = _shard_path(work_dir, shard)
        if not path.exists():
            raise RuntimeError(f"{path}: shard missing after captioning; rerun to finish it")
        for line in path.read_text().splitlines():
            record = json.loads(line)
            by_index[record["index"]] = record["caption"]
    return [by_index[i] for i in indices]
