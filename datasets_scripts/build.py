"""Build one corpus into the data contract: scan -> crop faces (parallel, resumable) -> DatasetDict -> report.

    python -m datasets_scripts.build casia_mfsd --root RAW/CASIA_faceAntisp --out data/casia_mfsd --num_proc 2

Work goes to `OUT.partial/` (per-video checkpoints in `shards/<split>/`); a rerun with the same options skips
every finished video. Only a complete build is moved to `OUT` (one rename), with `build_report.json` and
`build_report.md` (counts per split, label and attack type; frames with no face; skipped files and why) beside
`dataset_dict.json`. A rerun on a finished `OUT` returns its report; `--overwrite` rebuilds and swaps it in at
the end. Frames with no face (no usable corpus box and no detection) are logged, counted and skipped.

`build_all` (``corpus`` ``all``) builds every corpus found under a parent folder of raw copies: `RAW_PARENT/<name>`
-> `OUT_PARENT/<name>`, where `<name>` is the registry name (`datasets_scripts.corpora.BUILDERS`, e.g.
`RAW_PARENT/siw/SiW/...`); each corpus module finds its own layout inside that folder. Corpora without a folder are
listed as missing; a corpus whose build fails is logged and reported, and the others still build.

Example:
    >>> report = build_corpus("casia_mfsd", "RAW/CASIA_faceAntisp", "data/casia_mfsd", num_proc=2)  # doctest: +SKIP
    >>> summary = build_all("raw", "data", num_proc=2)  # doctest: +SKIP
    >>> summary["missing"]  # doctest: +SKIP
    ['hifimask', 'wmca']
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from datasets_scripts.base import (
    DETECTORS,
    IMAGE_FORMATS,
    BuildSettings,
    MediaItem,
    Skip,
    checkpoint_path,
    iter_rows,
    process_item,
    read_checkpoints,
)
from datasets_scripts.contract import FEATURES, LABEL_LIVE
from datasets_scripts.corpora import BUILDERS, get_corpus
from datasets_scripts.video import check_policy

logger = logging.getLogger(__name__)

REPORT_JSON, REPORT_MD, SETTINGS_JSON = "build_report.json", "build_report.md", "build_settings.json"
TASKS_PER_WORKER = 8


def _init_worker(log_level: int) -> None:
    torch.set_num_threads(1)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _process_all(items: Iterable[MediaItem], settings: BuildSettings, work: Path, num_proc: int) -> Iterator[dict]:
    """Outcomes of `process_item` over `items`, each worker on one torch thread (MTCNN's small convolutions
    run many times slower when threads oversubscribe the cores; parallelism comes from `num_proc`).
    With num_proc > 1 the items go to spawned workers in small batches, so the pending queue (and memory)
    stays bounded whatever the corpus size."""
    task = functools.partial(process_item, settings=settings, work=work)
    if num_proc <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield from map(task, items)
        finally:
            torch.set_num_threads(threads)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(num_proc, initializer=_init_worker, initargs=(logging.getLogger().getEffectiveLevel(),)) as pool:
        for batch in _batches(items, num_proc * TASKS_PER_WORKER):
            yield from pool.imap_unordered(task, batch)


def _pending(scan: Iterable[MediaItem | Skip], work: Path, skips: list[Skip], counts: Counter) -> Iterator[MediaItem]:
    """Items of `scan` without a finished checkpoint; collects Skips and counts items, rejects duplicate ids."""
    seen = set()
    for entry in scan:
        if isinstance(entry, Skip):
            logger.warning("%s: skipped (%s)", entry.path, entry.reason)
            skips.append(entry)
            continue
        if entry.video_id in seen:
            raise ValueError(f"{entry.path}: video_id {entry.video_id!r} yielded twice by the corpus scan")
        seen.add(entry.video_id)
        counts["items"] += 1
        if checkpoint_path(work, entry).exists():
            counts["resumed"] += 1
        else:
            yield entry


def _check_settings(work: Path, corpus: str, settings: BuildSettings) -> None:
    wanted = {"corpus": corpus, **settings.to_dict()}
    stored_path = work / SETTINGS_JSON
    if stored_path.exists():
        stored = json.loads(stored_path.read_text())
        if stored != wanted:
            raise ValueError(
                f"{work}: an unfinished build with other options is there ({stored}); "
                f"rerun with those options or delete {work} to start again with {wanted}"
            )
    else:
        work.mkdir(parents=True, exist_ok=True)
        stored_path.write_text(json.dumps(wanted, indent=1))


def _assemble(work: Path, module, splits: list[str]) -> DatasetDict:
    """One Dataset per split from the checkpoints, streamed to Arrow files under `work/cache`."""
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    for split in set(module.SPLITS) - set(splits):
        logger.warning("%s: split %r has no frames; left out", module.NAME, split)
    if not splits:
        raise RuntimeError(f"{module.NAME}: no frame survived the build; see the warnings above")
    return DatasetDict({
        split: Dataset.from_generator(
            iter_rows,
            gen_kwargs={"split_dir": str(work / "shards" / split), "dataset": module.NAME},
            features=FEATURES,
            cache_dir=str(cache),
            writer_batch_size=100,
        )
        for split in splits
    })


def summarize(work: Path, module, settings: BuildSettings, skips: list[Skip]) -> dict:
    """The build report, from the checkpoints (images are not read)."""
    splits, box_sources, no_face, skipped = {}, Counter(), [], [{"item": s.path, "reason": s.reason} for s in skips]
    for split in module.SPLITS:
        videos, frames, labels, attacks, subjects = 0, 0, Counter(), Counter(), set()
        for outcome in read_checkpoints(work / "shards" / split):
            if outcome["skip_reason"]:
                skipped.append({"item": outcome["video_id"], "reason": outcome["skip_reason"]})
            no_face += [{"video_id": outcome["video_id"], "frame_index": i} for i in outcome["no_face_frames"]]
            box_sources.update(row["box_source"] for row in outcome["rows"])
            if outcome["rows"]:
                videos += 1
                frames += len(outcome["rows"])
                labels["live" if outcome["label"] == LABEL_LIVE else "spoof"] += len(outcome["rows"])
                attacks[outcome["attack_type"]] += len(outcome["rows"])
                subjects.add(outcome["subject"])
        if videos:
            splits[split] = {
                "videos": videos,
                "frames": frames,
                "subjects": len(subjects),
                "frames_by_label": dict(sorted(labels.items())),
                "frames_by_attack_type": dict(sorted(attacks.items())),
            }
    return {
        "corpus": module.TITLE,
        "dataset": module.NAME,
        "settings": settings.to_dict(),
        "splits": splits,
        "frames_by_box_source": dict(sorted(box_sources.items())),
        "no_face_frames": {"count": len(no_face), "frames": no_face},
        "skipped": {"count": len(skipped), "files": skipped},
    }


def report_markdown(report: dict) -> str:
    """A short human-readable version of the build report."""
    settings = ", ".join(f"{k}={v}" for k, v in report["settings"].items())
    lines = [
        f"# Build report: {report['corpus']} (`{report['dataset']}`)",
        "",
        f"Settings: {settings}. Box sources (frames): {report['frames_by_box_source']}.",
        "",
        "| split | videos | frames | subjects | live | spoof | frames by attack type |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, c in report["splits"].items():
        labels = c["frames_by_label"]
        lines.append(
            f"| {split} | {c['videos']} | {c['frames']} | {c['subjects']} | {labels.get('live', 0)} | "
            f"{labels.get('spoof', 0)} | {c['frames_by_attack_type']} |"
        )
    reasons = Counter(entry["reason"] for entry in report["skipped"]["files"])
    lines += ["", f"Frames with no face (skipped): {report['no_face_frames']['count']}.", ""]
    lines.append(f"Skipped files: {report['skipped']['count']}.")
    lines += [f"- {count} x {reason}" for reason, count in reasons.most_common()]
    return "\n".join(lines) + "\n"


def build_corpus(
    corpus: str,
    root: str | Path,
    out: str | Path,
    *,
    frames: str = "flip",
    num_proc: int = 1,
    scale: float = 1.3,
    size: int = 224,
    image_format: str = "png",
    detector: str = "mtcnn",
    overwrite: bool = False,
) -> dict:
    """Build `corpus` (a registry name) from the raw tree at `root` into a DatasetDict at `out`; return the report."""
    module = get_corpus(corpus)
    settings = BuildSettings(frames=check_policy(frames), scale=scale, size=size, image_format=image_format, detector=detector)
    out = Path(out)
    work = out.with_name(out.name + ".partial")
    if out.exists() and not overwrite:
        if (out / REPORT_JSON).is_file():
            logger.info("%s is already built; nothing to do (use --overwrite to rebuild)", out)
            return json.loads((out / REPORT_JSON).read_text())
        raise FileExistsError(f"{out}: exists but is not a finished build of this tool; move it away or pass overwrite")
    scan = module.scan(root)
    first = next(scan, None)  # a wrong root fails here, before any work folder is made
    if first is None:
        raise FileNotFoundError(f"{root}: no {module.TITLE} media found (see the docstring of {module.__name__})")
    _check_settings(work, corpus, settings)

    skips, counts = [], Counter()
    pending = _pending(itertools.chain([first], scan), work, skips, counts)
    for _ in tqdm(_process_all(pending, settings, work, num_proc), desc=f"{corpus}: videos", unit="video"):
        pass
    if counts["items"] == 0:
        reasons = [skip.reason for skip in skips][:5]
        raise FileNotFoundError(f"{root}: no {module.TITLE} media could be placed; skipped: {reasons}")
    logger.info("%s: %d items, %d already done before this run", corpus, counts["items"], counts["resumed"])

    report = summarize(work, module, settings, skips)
    dataset = _assemble(work, module, list(report["splits"]))
    finished = work / "dataset"
    shutil.rmtree(finished, ignore_errors=True)
    dataset.save_to_disk(str(finished))
    (finished / REPORT_JSON).write_text(json.dumps(report, indent=1))
    (finished / REPORT_MD).write_text(report_markdown(report))
    _publish(finished, out)
    shutil.rmtree(work)
    return report


def _publish(finished: Path, out: Path) -> None:
    """Move the finished dataset to `out` by renames only, replacing an older build there (moved to `OUT.old`,
    then deleted). Safe to rerun after a kill at any point: a leftover `OUT.old` beside `OUT` is an old build
    whose deletion was cut short; without `OUT` it is the old build of a publish killed between the renames."""
    old = out.with_name(out.name + ".old")
    if old.exists() and out.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(finished, out)
    shutil.rmtree(old, ignore_errors=True)


def build_all(raw_parent: str | Path, out_parent: str | Path, **options) -> dict:
    """{"built": {name: report}, "failed": {name: error}, "missing": [names]}; `options` go to `build_corpus`."""
    raw_parent, out_parent = Path(raw_parent), Path(out_parent)
    if not raw_parent.is_dir():
        raise FileNotFoundError(f"{raw_parent}: not a folder (expected one raw corpus folder per name: {', '.join(BUILDERS)})")
    summary = {"built": {}, "failed": {}, "missing": []}
    for name in BUILDERS:
        root = raw_parent / name
        if not root.is_dir():
            summary["missing"].append(name)
            continue
        try:
            summary["built"][name] = build_corpus(name, root, out_parent / name, **options)
        except (OSError, ValueError, RuntimeError) as error:
            logger.error("%s: build failed: %s", name, error)
            summary["failed"][name] = f"{type(error).__name__}: {error}"
    if summary["missing"]:
        logger.warning("no raw folder under %s for: %s", raw_parent, ", ".join(summary["missing"]))
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m datasets_scripts.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", choices=(*BUILDERS, "all"),
                        help="registry name (datasets_scripts.corpora), or 'all': every corpus found under --root")
    parser.add_argument("--root", required=True, help="the corpus's raw folder (with 'all': RAW_PARENT/<name>/...)")
    parser.add_argument("--out", required=True, help="output folder of the DatasetDict (conventionally OUT_PARENT/<corpus>)")
    parser.add_argument("--frames", default="flip", help="flip | first_last | all | uniform:K | every:K | 6,20,...")
    parser.add_argument("--num_proc", type=int, default=1, help="worker processes")
    parser.add_argument("--scale", type=float, default=1.3, help="square crop side / max(box w, h)")
    parser.add_argument("--size", type=int, default=224, help="crop side in pixels")
    parser.add_argument("--image_format", default="png", choices=tuple(IMAGE_FORMATS))
    parser.add_argument("--detector", default="mtcnn", choices=DETECTORS, help="'none': corpus boxes only")
    parser.add_argument("--overwrite", action="store_true", help="rebuild a finished OUT")
    parser.add_argument("--log_level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    options = {k: v for k, v in vars(args).items() if k not in {"corpus", "root", "out", "log_level"}}
    if args.corpus == "all":
        summary = build_all(args.root, args.out, **options)
        print(f"built: {', '.join(summary['built']) or '-'}; failed: {', '.join(summary['failed']) or '-'}; "
              f"missing: {', '.join(summary['missing']) or '-'}")
        return summary
    report = build_corpus(args.corpus, args.root, args.out, **options)
    print(report_markdown(report))
    return report


if __name__ == "__main__":
    from ifas.cli.errors import run_cli

    raise SystemExit(run_cli(main))
