"""``ifas predict CKPT PATH... [--explain] [--out results.jsonl]``: score images, folders and videos.

Each input gets one JSON line: ``path``, ``kind`` ("image" or "video"), ``face_box`` ([x1, y1, x2, y2] of the face
the model saw, in the input's pixels; null when the checkpoint feeds whole images), ``num_faces``, ``p_live``,
``margin`` (images: the Yes/No logit margin, P(live) = sigmoid(margin)), ``is_live`` (``p_live >= threshold``, the checkpoint's calibrated ``config.threshold``, 0.5 while uncalibrated),
``explanation`` (with ``--explain``) and ``error``: null, or why the input could not be scored (unreadable file,
no face); then ``p_live`` is null and ``is_live`` false. Folders are walked recursively (sorted) for image and
video files; other files are logged and left out. A video is judged as `ifas.evaluation.judge_video` does: frames
sampled by ``--frames``, each cropped to its face, P(live) averaged over the frames with a face.

With ``--heatmap DIR`` each scored image also gets a PNG in DIR (the face crop, its judgment heat map and its
explanation heat map side by side, `heatmap_ifas.overlay_panel`), named in its line as ``heatmap``, with
``heatmap_share``: how much of the decision's evidence the map shows (`heatmap_ifas.evidence_share`; near 0, the
decision came through the GAC's global tokens and the map is noise).

With ``--out`` the lines are appended to ``<out>.part-<rank>`` as inputs finish and to ``--out`` at the end (or when
the run is interrupted), and a re-run with the same ``--out`` skips the inputs already written there or in a part
(a torn last line is dropped and redone), so an interrupted run resumes. Use a new file for another checkpoint.
Without ``--out`` the lines go to stdout. While a run writes to ``--out`` it holds the lock file ``<out>.lock``: a
second run on the same file refuses. An existing file that is not this tool's JSON lines is refused, never
rewritten. Several processes share the inputs (`ifas.infer.sharded`; each input is done once, ``--out`` is needed):

    accelerate launch --num_processes 8 -m ifas predict CKPT photos/ --out results.jsonl

Exit status: 0 when the run completed (inputs that could not be scored have their ``error`` in the lines; with
``--fail_on_error`` any such input makes it 1), 1 with ``error: ...`` when the run could not start (checkpoint,
``--out``), 2 for a usage error. stderr has the logs and one summary line: inputs, scored, live, errors.

Example:
    >>> from ifas.cli.predict import predict
    >>> records = predict(model, processor, ["photos/", "clip.mp4"], explain=True)  # doctest: +SKIP
    >>> records[0]["p_live"], records[0]["is_live"], records[0]["face_box"]  # doctest: +SKIP
    (0.91, True, [181.1, 62.2, 267.7, 172.1])
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from ifas.infer.sharded import PartFiles, gathered, on_main, process_device, process_state

logger = logging.getLogger("ifas.predict")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".3gp", ".mpg", ".mpeg", ".wmv", ".flv")
# Suffixes of media files beside those above and those Python's built-in MIME table calls image/* or video/*
# (.avif, .heic, .ico, .svg, .ppm, ...): files in a folder that look like photos or videos get a line, an error
# one when they cannot be decoded, instead of being left out.
MORE_IMAGE_SUFFIXES = (".jfif", ".jxl", ".jp2", ".j2k", ".psd", ".tga", ".exr", ".hdr", ".qoi", ".dng", ".cr2",
                       ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raw")
MORE_VIDEO_SUFFIXES = (".ogv", ".m2ts", ".mts", ".vob", ".f4v", ".asf", ".rm", ".rmvb", ".mxf", ".divx")
RECORD_KEYS = ("path", "kind", "p_live", "is_live", "error")
_MIME_TYPES = mimetypes.MimeTypes()  # the built-in table only: the same on every machine


def media_kind(path: Path) -> str | None:
    """"image", "video" or None (not a media file), from the suffix.

    >>> [media_kind(Path(name)) for name in ("a.JPG", "b.avif", "c.mkv", "d.ogv", "notes.txt")]
    ['image', 'image', 'video', 'video', None]
    """
    suffix = path.suffix.lower()
    mime = _MIME_TYPES.guess_type(path.name, strict=False)[0] or ""
    if suffix in IMAGE_SUFFIXES + MORE_IMAGE_SUFFIXES or mime.startswith("image/"):
        return "image"
    if suffix in VIDEO_SUFFIXES + MORE_VIDEO_SUFFIXES or mime.startswith("video/"):
        return "video"
    return None


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, and the image and video files under folders (recursive, sorted; `media_kind`); other
    files in folders are logged and left out. A missing path is kept, so that it gets its error line."""
    inputs = []
    for path in map(Path, paths):
        if not path.is_dir():
            inputs.append(path)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if media_kind(file):
                    inputs.append(file)
                else:
                    logger.info("%s: not an image or video file, left out", file)
    return list(dict.fromkeys(inputs))  # a file named twice (directly and in its folder) is done once


def _is_torn(segment: str) -> bool:
    """Whether a last line without its newline is the start of one of this tool's lines (cut by an interruption)."""
    head = '{"path": '
    return segment.startswith(head) or head.startswith(segment)


def read_records(out: Path, drop_torn: bool = False) -> dict[str, dict]:
    """The records already in `out` by path ({} when it does not exist). A file that is not this tool's JSON lines
    raises ValueError naming the line, and is left as it is; a torn last line is removed when `drop_torn`."""
    if not out.exists():
        return {}
    if not out.is_file():
        raise ValueError(f"--out {str(out)!r} is not a file")
    data = out.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"--out {str(out)!r} is not a JSON lines file of ifas predict (not UTF-8 text); "
                         "refusing to write to it, give another --out") from None
    lines = text.split("\n")
    complete, last = lines[:-1], lines[-1]
    records = {}
    for number, line in enumerate(complete, start=1):
        try:
            record = json.loads(line)
            ours = isinstance(record, dict) and all(key in record for key in RECORD_KEYS)
        except json.JSONDecodeError:
            ours = False
        if not ours:
            raise ValueError(f"--out {str(out)!r}: line {number} is not an ifas predict JSON line ({line[:60]!r}); "
                             "refusing to write to a file this tool did not make, give another --out")
        records[record["path"]] = record
    if last:
        if not _is_torn(last):
            raise ValueError(f"--out {str(out)!r}: line {len(lines)} is not an ifas predict JSON line "
                             f"({last[:60]!r}); refusing to write to a file this tool did not make, give another --out")
        if drop_torn:
            logger.warning("%s: dropping a torn last line, its input is done again", out)
            os.truncate(out, len(data) - len(last.encode("utf-8")))
    return records


def lock_out(out: Path) -> FileLock:
    """The lock of `out` (``<out>.lock``), held by this process; ValueError when another run holds it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{out}.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(f"--out {str(out)!r} is being written by another ifas predict run (lock {out}.lock "
                         "held); wait for it to finish or give another --out") from None
    return lock


def _failed(path: Path, kind: str, error: str, explain: bool) -> dict:
    record = {"path": str(path), "kind": kind, "face_box": None, "num_faces": None, "p_live": None, "margin": None,
              "is_live": False, "error": error}
    return record | ({"explanation": None} if explain else {})


def _image_records(model, processor, paths: list[Path], explain: bool, max_new_tokens: int,
                   heatmap_dir: Path | None = None) -> list[dict]:
    """One record per image of a batch; unreadable images and images without a face get an error."""
    records = {}
    faces = dict(zip(paths, processor.detect_faces([str(path) for path in paths], strict=False)))
    found = [path for path, face in faces.items() if face.image is not None]
    for path, face in faces.items():
        if face.image is None:
            logger.warning("%s: %s, not scored", path, face.error)
            records[path] = _failed(path, "image", face.error, explain) | {"num_faces": face.num_faces}
    if found:
        crops = [faces[path].image for path in found]
        if explain or heatmap_dir:
            answers = model.judge(processor, crops, max_new_tokens=max_new_tokens, batch_size=len(crops),
                                  crop_faces=False, heatmap=heatmap_dir is not None)
        else:
            p_live, margin = model.score(processor, crops, batch_size=len(crops), crop_faces=False, return_margin=True)
            answers = [{"p_live": p, "margin": m, "is_live": p >= model.decision_threshold()}
                       for p, m in zip(p_live.tolist(), margin.tolist())]
        for path, answer in zip(found, answers):
            face = faces[path]
            records[path] = {
                "path": str(path), "kind": "image",
                "face_box": None if face.box is None else [float(v) for v in face.box],
                "num_faces": face.num_faces, "p_live": answer["p_live"], "margin": answer["margin"],
                "is_live": bool(answer["is_live"]), "error": None,
            } | ({"explanation": answer["explanation"]} if explain else {})
            if heatmap_dir:
                records[path]["heatmap"] = _write_heatmap(face.image, answer, path, heatmap_dir)
                records[path]["heatmap_share"] = answer["heatmap_share"]
    return [records[path] for path in paths]


def _write_heatmap(crop, answer: dict, path: Path, heatmap_dir: Path) -> str:
    from heatmap_ifas import overlay_panel

    heatmap_dir.mkdir(parents=True, exist_ok=True)
    out = heatmap_dir / ("_".join(part for part in path.with_suffix("").parts if part not in ("/", ".", "..")) + ".png")
    overlay_panel(crop, answer).save(out)
    return str(out)


def _video_record(model, processor, path: Path, explain: bool, frames: str, max_new_tokens: int,
                  batch_size: int) -> dict:
    from ifas.evaluation import judge_video

    try:
        verdict = judge_video(model, processor, path, frames, max_new_tokens, batch_size, explain=explain)
    except ValueError as error:
        logger.warning("%s: unreadable, not scored: %s", path, error)
        return _failed(path, "video", str(error), explain)
    if verdict["error"]:
        logger.warning("%s: %s, not scored", path, verdict["error"])
    record = {"path": str(path), "kind": "video", "face_box": verdict["face_box"], "num_faces": verdict["num_faces"],
              "p_live": verdict["p_live"], "is_live": verdict["is_live"], "error": verdict["error"],
              "frame_indices": verdict["frame_indices"], "frame_p_live": verdict["frame_p_live"],
              "decisive_frame": verdict["decisive_frame"]}
    return record | ({"explanation": verdict["explanation"]} if explain else {})


def iter_predictions(
    model, processor, inputs: list[Path], *, explain: bool = False, frames: str = "flip", batch_size: int = 8,
    max_new_tokens: int = 48, heatmap_dir: Path | None = None,
) -> Iterator[dict]:
    """Records for `inputs` in order, images scored `batch_size` at a time, each video on its own."""
    batch: list[Path] = []
    for path in inputs:
        if media_kind(path) == "video":
            if batch:
                yield from _image_records(model, processor, batch, explain, max_new_tokens, heatmap_dir)
                batch = []
            yield _video_record(model, processor, path, explain, frames, max_new_tokens, batch_size)
            continue
        batch.append(path)
        if len(batch) == batch_size:
            yield from _image_records(model, processor, batch, explain, max_new_tokens, heatmap_dir)
            batch = []
    if batch:
        yield from _image_records(model, processor, batch, explain, max_new_tokens, heatmap_dir)


def predict(
    model, processor, paths: Iterable[str | Path], out: str | Path | None = None, *, explain: bool = False,
    frames: str = "flip", batch_size: int = 8, max_new_tokens: int = 48, progress: bool = True,
    heatmap_dir: str | Path | None = None,
) -> list[dict]:
    """Score `paths` (images, folders, videos); with `out`, write JSON lines there (holding its lock) and skip
    inputs it already has. Returns the records made by this call, in input order.

    Each process (``accelerate launch``, `ifas.infer.sharded`) appends the lines of its share of the inputs to its
    part file ``<out>.part-<rank>``; the main process appends them to `out` in input order at the end (one process
    also when interrupted), and a rerun resumes from the parts an interrupted run left. Several processes need `out`.
    """
    inputs = expand_inputs(paths)
    options = dict(explain=explain, frames=frames, batch_size=batch_size, max_new_tokens=max_new_tokens,
                   heatmap_dir=Path(heatmap_dir) if heatmap_dir else None)
    state = process_state()
    if model.config.threshold is None and state.is_main_process:
        logger.warning("the checkpoint is not calibrated (config.threshold is None): deciding at 0.5")
    if not out:
        if state.num_processes > 1:
            raise ValueError("several processes need --out (each writes its part of the file)")
        records = []
        for record in tqdm(iter_predictions(model, processor, inputs, **options), total=len(inputs), unit="input",
                           disable=not progress):
            print(json.dumps(record), flush=True)
            records.append(record)
        return records
    out = Path(out)
    lock = on_main(lambda: lock_out(out))
    try:
        on_main(lambda: read_records(out, drop_torn=True))
        parts = PartFiles(out)
        done = set(read_records(out)) | {record["path"] for record in parts.records()}
        todo = [path for path in inputs if str(path) not in done]
        if len(todo) < len(inputs) and state.is_main_process:
            logger.info("%s: %d of %d inputs already done, resuming", out, len(inputs) - len(todo), len(inputs))
        try:
            records = parts.write(todo, lambda share: iter_predictions(model, processor, share, **options),
                                  progress=progress)
        except BaseException:
            if state.num_processes == 1:  # keep the finished lines in `out`; several processes leave their parts
                _merge_parts(out, parts, inputs)
                parts.remove()
            raise
        if state.is_main_process:
            _merge_parts(out, parts, inputs)
        parts.remove()
    finally:
        if lock:
            lock.release()
    return gathered(records)


def _merge_parts(out: Path, parts: PartFiles, inputs: list[Path]) -> None:
    """Append to `out` the records of the part files that it does not hold yet, in input order."""
    have = read_records(out)
    order = {str(path): position for position, path in enumerate(inputs)}
    new = {record["path"]: record for record in parts.records() if record["path"] not in have}
    with out.open("a", encoding="utf-8") as handle:
        for record in sorted(new.values(), key=lambda record: order.get(record["path"], len(order))):
            handle.write(json.dumps(record) + "\n")


def summary(records: list[dict], earlier: int = 0) -> str:
    """The run's one-line summary.

    >>> summary([{"p_live": 0.9, "is_live": True, "error": None}, {"p_live": None, "is_live": False, "error": "x"}])
    'ifas predict: 2 inputs, 1 scored, 1 live, 1 errors'
    """
    scored = sum(record["p_live"] is not None for record in records)
    live = sum(bool(record["is_live"]) for record in records)
    errors = sum(record["error"] is not None for record in records)
    line = f"ifas predict: {len(records)} inputs, {scored} scored, {live} live, {errors} errors"
    return line + (f" ({earlier} of them from an earlier run)" if earlier else "")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ifas predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("checkpoint", help="checkpoint folder (or Hub id)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image or video files, or folders of them")
    parser.add_argument("--out", help="JSON lines file (appended; a re-run resumes); default: stdout")
    parser.add_argument("--explain", action="store_true", help="generate the explanation of each decision")
    parser.add_argument("--heatmap", metavar="DIR", help="write each image's heat-map overlays (PNG) into DIR")
    parser.add_argument("--fail_on_error", action="store_true",
                        help="exit with status 1 when any input could not be scored (unreadable, no face)")
    parser.add_argument("--frames", default="flip", help="frame policy for videos (datasets_scripts.video)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=48)
    parser.add_argument("--device", help="default: this process's GPU (local rank modulo the GPUs), else cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--int8", action="store_true",
                        help="CPU only: dynamic int8 Linear layers in the tower and LM (ifas.infer.cpu_speed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``ifas predict``; returns the exit status (module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    from datasets_scripts.video import check_policy
    from ifas.evaluation import load_model

    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    try:
        check_policy(args.frames)
    except ValueError as error:
        parser.error(f"--frames: {error}")
    device = args.device or str(process_device())
    if args.int8 and (device != "cpu" or args.dtype != "float32"):
        parser.error("--int8 needs --device cpu and --dtype float32")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.out:
        read_records(Path(args.out))  # refuse a file that is not ours before loading the model
    model, processor = load_model(args.checkpoint, device, args.dtype)
    if args.int8:
        from ifas.infer.cpu_speed import quantize_for_cpu

        model = quantize_for_cpu(model, inplace=True)
    records = predict(model, processor, args.paths, args.out, explain=args.explain, frames=args.frames,
                      batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, progress=sys.stderr.isatty(),
                      heatmap_dir=args.heatmap)
    if not process_state().is_main_process:  # the main process reports
        return 0
    earlier = 0
    if args.out:  # the summary covers every input asked for, resumed ones included
        wanted, this_run = {str(path) for path in expand_inputs(args.paths)}, len(records)
        records = [record for path, record in read_records(Path(args.out)).items() if path in wanted]
        earlier = len(records) - this_run
    print(summary(records, earlier), file=sys.stderr)
    return 1 if args.fail_on_error and any(record["error"] is not None for record in records) else 0
