"""CLI: fill `caption` and `caption_source` of a saved contract DatasetDict with SCF captions.

    python -m datasets_scripts.scf --dataset data/msu --captioner template --out data/msu_scf
    python -m datasets_scripts.scf --dataset data/msu --captioner path/to/vlm [--finetune] --out data/msu_scf \
        [--batch_size 8] [--prompt_mode attack_aware|spoof_aware|generic] [--seed 0]
    accelerate launch -m datasets_scripts.scf ...   # GPUs: shards the captioning over processes
    torchrun --nproc_per_node 2 -m datasets_scripts.scf ...   # CPU processes (gloo)

Writes the captioned DatasetDict to `--out` (`save_to_disk`) and `scf_report.json` / `scf_report.md` beside its
splits. Caption shards and C_S live in `--work_dir` (default: `<out>_scf_work`); rerun the same command to resume.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from datasets import DatasetDict, load_from_disk

from datasets_scripts.scf.pipeline_captioner import DEFAULT_PROMPT_MODE, PROMPT_MODES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m datasets_scripts.scf", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a contract DatasetDict saved with save_to_disk")
    parser.add_argument("--captioner", required=True,
                        help="Hugging Face image-text-to-text model name or path, or 'template'")
    parser.add_argument("--finetune", action="store_true",
                        help="fine-tune the captioner on kept captions (C_S) and re-caption rejected and live rows")
    parser.add_argument("--out", required=True, help="output directory for the captioned DatasetDict and report")
    parser.add_argument("--work_dir", help="caption shards and C_S (default: <out>_scf_work)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--prompt_mode", choices=PROMPT_MODES, default=DEFAULT_PROMPT_MODE,
                        help=f"whether the prompt states the attack (default {DEFAULT_PROMPT_MODE})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the template captioner")
    parser.add_argument("--shard_size", type=int, default=64, help="rows per resumable caption shard")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from datasets_scripts.scf.flow import require_finetune, run_scf
    from datasets_scripts.scf.report import write_report
    from datasets_scripts.scf.resumable import process_state

    if args.finetune:
        try:
            require_finetune()
        except RuntimeError as error:
            sys.exit(f"error: {error}")
    dataset_dir, out = Path(args.dataset), Path(args.out)
    if dataset_dir.resolve() == out.resolve():
        sys.exit(f"error: --out {out} must differ from --dataset (the input is memory-mapped)")
    try:
        dataset = load_from_disk(str(dataset_dir))
    except FileNotFoundError as error:
        sys.exit(f"error: {dataset_dir}: not a saved dataset ({error})")
    if not isinstance(dataset, DatasetDict):
        sys.exit(f"error: {dataset_dir}: expected a DatasetDict (one split per key), found a single Dataset")
    work_dir = Path(args.work_dir) if args.work_dir else out.with_name(out.name + "_scf_work")
    captioned, report = run_scf(
        dataset, args.captioner, work_dir, finetune=args.finetune, batch_size=args.batch_size,
        prompt_mode=args.prompt_mode, seed=args.seed, shard_size=args.shard_size, max_new_tokens=args.max_new_tokens,
    )
    if process_state().is_main_process:
        captioned.save_to_disk(str(out))
        json_path, _ = write_report(report, out)
        logging.getLogger(__name__).info("wrote %s and %s", out, json_path)
    return 0


if __name__ == "__main__":
    from ifas.cli.errors import run_cli

    sys.exit(run_cli(main))
