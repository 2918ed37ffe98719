"""``ifas adapt``: fine-tune a checkpoint on a few of your own captures and report before/after on held-out ones.

    ifas adapt outputs/demo/checkpoint --live captures/live --spoof print=captures/prints replay=captures/screens \\
        --out outputs/adapted

PATH: image files or folders (searched recursively). ``--spoof FAMILY=PATH`` names the attack family (print, replay,
mask, paper_mask, 3d_mask, makeup, partial, other); a bare PATH is "other". Sub-folders (a person, a session) are held
out whole for the check part (``--check_fraction``), or give the check part yourself with ``--check_live`` /
``--check_spoof``. The adapted checkpoint, ``adapt_report.md``/``.json``, ``adapt_split.json`` and a histogram land in
``--out`` (see ``ifas/train/adapt.py``).
"""

from __future__ import annotations

import argparse
import logging

from ifas.train.adapt_data import parse_spoof_arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ifas adapt", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the I-FAS checkpoint folder to adapt")
    parser.add_argument("--live", nargs="+", required=True, metavar="PATH", help="live captures (files or folders)")
    parser.add_argument("--spoof", nargs="+", required=True, metavar="[FAMILY=]PATH", help="spoof captures")
    parser.add_argument("--out", required=True, help="new (or empty) folder for the adapted checkpoint and report")
    parser.add_argument("--check_live", nargs="+", default=[], metavar="PATH", help="explicit live check captures")
    parser.add_argument("--check_spoof", nargs="+", default=[], metavar="[FAMILY=]PATH",
                        help="explicit spoof check captures")
    parser.add_argument("--check_fraction", type=float, default=0.3,
                        help="share of each class's groups held out for the check part (default 0.3)")
    parser.add_argument("--max_minutes", type=float, default=10.0, help="time budget of the whole run (default 10)")
    parser.add_argument("--max_steps", type=int, default=60, help="training steps at most (default 60)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--learning_rate", type=float, default=1e-3, help="LoRA rate; the connector gets a tenth")
    parser.add_argument("--min_images_per_class", type=int, default=8,
                        help="refuse with fewer usable adaptation captures per class (default 8)")
    parser.add_argument("--explain", type=int, default=4, help="check captures answered in the report")
    parser.add_argument("--warm_start_steps", type=int, default=600,
                        help="connector warm-start steps on the captures before LoRA (default 600; 0 = off)")
    parser.add_argument("--augment", type=int, default=16,
                        help="variations (framing, exposure, JPEG) of each capture trained on beside it (default 16)")
    parser.add_argument("--no_mirror", dest="test_time_mirror", action="store_false",
                        help="decide on each face alone, not on the mean with its mirror image (one forward less)")
    parser.add_argument("--crops", action="store_true",
                        help="the captures are face crops already: no face detection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run `ifas.train.adapt.adapt`; print where the report is.

    >>> main(["outputs/demo/checkpoint", "--live", "live/", "--spoof", "print=prints/", "--out", "adapted"])  # doctest: +SKIP
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        spoof = parse_spoof_arguments(args.spoof)
        check_spoof = parse_spoof_arguments(args.check_spoof)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ifas.train.adapt import adapt

    report = adapt(args.checkpoint, args.live, spoof, args.out, check_live=args.check_live, check_spoof=check_spoof,
                   check_fraction=args.check_fraction, max_minutes=args.max_minutes, max_steps=args.max_steps,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   min_images_per_class=args.min_images_per_class, explain=args.explain, seed=args.seed,
                   device=args.device, crop_faces=not args.crops,
                   warm_start_steps=args.warm_start_steps, augment=args.augment,
                   test_time_mirror=args.test_time_mirror)
    before, after = report["before"], report["after"]
    print(f"check part AUC {before['auc']:.4f} -> {after['auc']:.4f}, HTER {100 * before['hter']:.2f}% -> "
          f"{100 * after['hter']:.2f}%; threshold {report['threshold']:.6g}; report: {args.out}/adapt_report.md")
