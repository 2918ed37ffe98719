"""Publish an ifas checkpoint folder to the Hugging Face Hub with a model card built from its evaluation results.

Writes ``README.md`` (and copies ``results.json``) into the folder, checks that every ``auto_map`` module the JSON
configs name is present as a .py file (the remote code), with the modules they import relatively (``from .x import``), creates the repo and uploads the folder in one commit.
Trainer leftovers (optimizer/scheduler/RNG states, sub-checkpoints) are not uploaded.

Example:
    python scripts/push_to_hub.py outputs/ifas-small --repo-id me/ifas-small --results report/results.json \\
        --dataset me/celeba-spoof-fas --base-model HuggingFaceTB/SmolLM2-135M-Instruct --dry-run
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.utils import filter_repo_objects
from transformers.dynamic_module_utils import get_relative_imports

from ifas.reporting import load_results, write_model_card

logger = logging.getLogger("push_to_hub")

IGNORE_PATTERNS = [
    "optimizer.pt", "scheduler.pt", "rng_state*.pth", "training_args.bin", "checkpoint-*/*",
    "__pycache__/*", "*.pyc", ".*", "*/.*",
]


def _auto_map_modules(auto_map: dict) -> set[str]:
    modules = set()
    for reference in auto_map.values():
        for entry in reference if isinstance(reference, list) else [reference]:
            if entry and "." in entry:  # "module.Class" or "repo--module.Class"
                modules.add(entry.split("--")[-1].rsplit(".", 1)[0])
    return modules


def check_remote_code(folder: Path) -> list[str]:
    """Return the remote code files the folder's ``auto_map`` entries need, with their relative imports (the
    strict image decoder `image_io_ifas.py`, ...); raise if the folder cannot load."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json; is this a save_pretrained folder?")
    needed = set()
    for config_path in sorted(folder.glob("*.json")):
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{config_path}: invalid JSON ({error})") from error
        if isinstance(config, dict) and isinstance(config.get("auto_map"), dict):
            needed |= _auto_map_modules(config["auto_map"])
    files, queue = set(), sorted(f"{module}.py" for module in needed)
    while queue:
        name = queue.pop()
        files.add(name)
        if (folder / name).is_file():
            queue += [f"{module}.py" for module in get_relative_imports(str(folder / name)) if f"{module}.py" not in files]
    files = sorted(files)
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: auto_map needs {missing} but they are missing; copy the remote code files in")
    return files


def upload_operations(folder: Path) -> list[CommitOperationAdd]:
    """One add operation per file of ``folder`` (relative POSIX paths), minus ``IGNORE_PATTERNS``."""
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    kept = filter_repo_objects(files, ignore_patterns=IGNORE_PATTERNS)
    return [CommitOperationAdd(path_in_repo=name, path_or_fileobj=folder / name) for name in kept]


def push_checkpoint(
    folder: str | Path,
    repo_id: str,
    *,
    results_path: str | Path | None = None,
    license: str = "apache-2.0",
    datasets: Sequence[str] = (),
    base_model: str | None = None,
    tags: Sequence[str] = (),
    private: bool = False,
    token: str | None = None,
    dry_run: bool = False,
):
    """Write the card into ``folder`` and upload it to ``repo_id``; return the commit info (None on a dry run)."""
    folder = Path(folder)
    remote_code = check_remote_code(folder)
    results_path = Path(results_path) if results_path else folder / "results.json"
    results = load_results(results_path)
    if results_path.resolve() != (folder / "results.json").resolve():
        shutil.copyfile(results_path, folder / "results.json")
    card = write_model_card(folder, results, repo_id=repo_id, license=license, datasets=datasets,
                            base_model=base_model, tags=tags)
    logger.info("wrote %s; remote code: %s", card, ", ".join(remote_code) or "none")
    if dry_run:
        return None
    api = HfApi(token=token)
    operations = upload_operations(folder)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                               commit_message="Upload ifas checkpoint with model card and results")
    logger.info("uploaded %d files from %s to %s", len(operations), folder, repo_id)
    return commit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="checkpoint folder written by save_pretrained (with remote code .py)")
    parser.add_argument("--repo-id", required=True, help="Hub repo, e.g. me/ifas-small")
    parser.add_argument("--results", type=Path, help="results.json from the evaluation (default: FOLDER/results.json)")
    parser.add_argument("--license", default="apache-2.0")
    parser.add_argument("--dataset", action="append", default=[], help="Hub dataset id used in training (repeatable)")
    parser.add_argument("--base-model", help="Hub id of the base model")
    parser.add_argument("--tag", action="append", default=[], help="extra card tag (repeatable)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--token", help="Hub token (default: the logged-in one)")
    parser.add_argument("--dry-run", action="store_true", help="write README.md only, upload nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    push_checkpoint(args.folder, args.repo_id, results_path=args.results, license=args.license, datasets=args.dataset,
                    base_model=args.base_model, tags=args.tag, private=args.private, token=args.token,
                    dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
