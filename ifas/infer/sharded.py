"""Batch jobs over several processes: split the inputs, one part file per process, merge in input order, resume.

    accelerate launch --num_processes 8 -m ifas evaluate --model CKPT --protocol OCI_to_M --data_root data --out r
    accelerate launch --num_processes 8 -m ifas predict CKPT photos/ --out results.jsonl

`process_state()` is accelerate's `PartialState`; the processes of these jobs only coordinate (barriers, a few small
objects), on gloo when processes share a GPU or have none. `process_device()` is this process's GPU (its local rank
modulo the GPUs), else the CPU. Without a launcher everything runs as one process.

`PartFiles(out)` gives each process a contiguous share of the pending inputs (`PartialState.split_between_processes`
without padding: every input goes to exactly one process) and appends the records it makes to its part file
``<out>.part-<rank>``, one JSON line each, flushed as it goes. The caller merges the parts into `out` on the main
process and removes them. An interrupted run leaves its parts; a rerun, with any number of processes, reads them
(`PartFiles.records`, a torn last line dropped) and does only the inputs that none of them holds.

Example:
    >>> parts = PartFiles("results.jsonl", header={"model": "abc"})  # doctest: +SKIP
    >>> done = {record["path"] for record in parts.records()}  # doctest: +SKIP
    >>> mine = parts.write([p for p in inputs if p not in done], produce)  # doctest: +SKIP
    >>> if parts.state.is_main_process:  # doctest: +SKIP
    ...     merge(parts.records())
    >>> parts.remove()  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def process_state() -> PartialState:
    """The accelerate process state: one GPU per process (NCCL), else on gloo (no GPU, ``ACCELERATE_USE_CPU``, or
    more processes on this machine than GPUs, which then share them)."""
    processes_here = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    use_cpu = (os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
               or not torch.cuda.is_available() or processes_here > torch.cuda.device_count())
    return PartialState(cpu=use_cpu)


def process_device() -> torch.device:
    """This process's device: GPU number local rank modulo the GPUs, else the CPU.

    >>> process_device().type in ("cuda", "cpu")
    True
    """
    if torch.cuda.is_available():
        return torch.device("cuda", process_state().local_process_index % torch.cuda.device_count())
    return torch.device("cpu")


def on_main(check: Callable[[], object]) -> object:
    """`check()` run on the main process only (its result there, None elsewhere); a ValueError it raises is raised
    on every process, with its message.

    >>> on_main(lambda: 42)
    42
    """
    state = process_state()
    result, error = None, [None]
    if state.is_main_process:
        try:
            result = check()
        except ValueError as raised:
            error = [str(raised)]
    if state.num_processes > 1:
        broadcast_object_list(error)
    if error[0] is not None:
        raise ValueError(error[0])
    return result


def gathered(records: list) -> list:
    """Every process's `records`, concatenated in process order (the input order of contiguous shares)."""
    return gather_object(records) if process_state().num_processes > 1 else records


def complete_lines(path: Path) -> tuple[list[str], int]:
    """The lines of `path` that end with a newline, and their length in bytes (a torn last line is left out)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8").splitlines(), end


class PartFiles:
    """The part files ``<out>.part-<rank>`` of one output; `header`, when given, is each part's first line."""

    def __init__(self, out: str | os.PathLike, header: dict | None = None):
        self.out = Path(out)
        self.header = header
        self.state = process_state()

    def path(self, rank: int | None = None) -> Path:
        """The part file of process `rank` (default: this process)."""
        rank = self.state.process_index if rank is None else rank
        return self.out.with_name(f"{self.out.name}.part-{rank}")

    def paths(self) -> list[Path]:
        """The part files on disk, of any rank (an earlier run may have had more processes)."""
        found = self.out.parent.glob(glob.escape(self.out.name) + ".part-*")
        return sorted((path for path in found if path.name.rpartition("-")[2].isdigit()),
                      key=lambda path: int(path.name.rpartition("-")[2]))

    def _lines(self, path: Path) -> list[str]:
        """The record lines of a part; none when it was written for another `header`."""
        lines, _ = complete_lines(path)
        if self.header is None:
            return lines
        try:
            ours = bool(lines) and json.loads(lines[0]) == self.header
        except json.JSONDecodeError:
            ours = False
        if not ours:
            logger.info("%s: written for another model or data, not reused", path)
            return []
        return lines[1:]

    def records(self) -> list[dict]:
        """The records of every part file, part after part (a torn last line left out)."""
        return [json.loads(line) for path in self.paths() for line in self._lines(path)]

    def write(self, todo: Sequence, produce: Callable[[list], Iterable[dict]], desc: str = "",
              progress: bool = True) -> list[dict]:
        """Append to this process's part the records that `produce` makes for its share of `todo`; return them.

        All processes wait for each other first (so every one has read the parts) and at the end (so the parts are
        complete for the merge). This process's part keeps its complete records; a torn last line is cut off.
        """
        self.state.wait_for_everyone()
        path = self.path()
        if path.exists() and self._lines(path):
            os.truncate(path, complete_lines(path)[1])
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("" if self.header is None else json.dumps(self.header) + "\n", encoding="utf-8")
        records = []
        with self.state.split_between_processes(list(todo)) as share, path.open("a", encoding="utf-8") as handle:
            with tqdm(total=len(share), desc=desc, disable=not (progress and self.state.is_main_process)) as bar:
                for record in produce(share):
                    handle.write(json.dumps(record) + "\n")
                    handle.flush()
                    records.append(record)
                    bar.update(1)
        self.state.wait_for_everyone()
        return records

    def remove(self) -> None:
        """Delete the part files (on the main process, once their records are merged); all processes wait."""
        if self.state.is_main_process:
            for path in self.paths():
                path.unlink()
        self.state.wait_for_everyone()
