"""SynthFAS: the embedded, offline face anti-spoofing dataset behind `make demo`.

Live faces come from real public-domain face photos shipped inside scikit-image (``astronaut``: NASA photo of
Eileen Collins) and matplotlib (``grace_hopper.jpg``: US Navy photo); see `datasets_scripts.synth.faces` for
sources and licences. Each live image varies framing, pose warp, room light (gain, colour temperature, direction,
3D shading), camera focus, sensor noise and JPEG. Attacks re-capture the same identities with the same framing
distribution through physically modelled media: print (CMYK halftone, paper gamut, fibre, curl, edges), screen
replay (sub-pixel grid and moire, display gamma/white point, glare, bezel, PWM banding) and paper mask (printed
face with cut-out eyes over a real face). Four capture domains (`synth_a`..`synth_d`) each have their own
camera, printer and screen, so leave-one-domain-out mimics cross-domain FAS.

Rows follow the data contract (`datasets_scripts.contract`): `dataset` is the domain, `subject` the identity
shown, `video_id` groups the frames of one simulated video (`frame_index` numbers them), `split` is train/dev/test
by video, `caption` is empty. Everything is deterministic given the seed.

Example:
    >>> from datasets_scripts.synthfas import build_synthfas, leave_one_domain_out
    >>> corpus = build_synthfas(per_domain=8, size=64, seed=0)
    >>> sorted(corpus), sorted(set(corpus["train"]["dataset"]))
    (['dev', 'test', 'train'], ['synth_a', 'synth_b', 'synth_c', 'synth_d'])
    >>> train, dev, test = leave_one_domain_out(corpus, "synth_d")
    >>> set(test["dataset"])
    {'synth_d'}

CLI:
    python -m datasets_scripts.synthfas --out data/synthfas --per_domain 400 --size 224 --seed 0 \
        --preview outputs/synthfas.png
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
from tqdm import tqdm

from datasets_scripts.contract import FEATURES, LABEL_LIVE, LABEL_SPOOF, check_dataset, make_record
from datasets_scripts.cue_masks import cue_mask_rows, save_cue_masks
from datasets_scripts.synth.domains import DOMAINS, EXTRA_DOMAINS, domain_by_name
from datasets_scripts.synth.faces import load_sources
from datasets_scripts.synth.videos import ATTACKS, VideoPlan, render_video

logger = logging.getLogger(__name__)

DEFAULT_MIX = {"none": 0.4, "print": 0.25, "replay": 0.25, "mask": 0.1}
DEFAULT_SPLITS = {"train": 0.6, "dev": 0.1, "test": 0.3}
CONFIG_FILE = "synthfas_config.json"


def _largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    weight = sum(shares.values())
    exact = {key: total * value / weight for key, value in shares.items()}
    counts = {key: math.floor(value) for key, value in exact.items()}
    for key in sorted(exact, key=lambda k: counts[k] - exact[k])[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def _deal_splits(n: int, splits: dict[str, float]) -> list[str]:
    """Split names for `n` ordered items, dealt proportionally so every run of items meets every split."""
    quotas = _largest_remainder(n, splits)
    dealt = {name: 0 for name in quotas}
    names = []
    for i in range(n):
        name = max(quotas, key=lambda s: (quotas[s] * (i + 1) / n - dealt[s], quotas[s]))
        dealt[name] += 1
        names.append(name)
    return names


def plan_domain(
    domain: str, per_domain: int, frames_per_video: int, seed: int, mix: dict[str, float], splits: dict[str, float]
) -> list[tuple[VideoPlan, str, int]]:
    """The videos of one domain as (plan, split, n_frames), `per_domain` frames in all.

    Attack types follow `mix`; identities rotate within each attack type so live and spoof show the same people;
    splits go by video (no video has frames on two sides), dealt across attack and identity groups so each split
    gets its share of every group.
    """
    unknown = set(mix) - set(ATTACKS)
    if unknown:
        raise ValueError(f"mix names unknown attack types {sorted(unknown)}; SynthFAS makes {ATTACKS}")
    n_videos = math.ceil(per_domain / frames_per_video)
    domain_index = [d.name for d in DOMAINS + EXTRA_DOMAINS].index(domain)
    n_sources = len(load_sources())
    plans, video = [], 0
    for attack, count in _largest_remainder(n_videos, mix).items():
        plans += [VideoPlan(domain, attack, k % n_sources, seed=(seed, domain_index, video + k)) for k in range(count)]
        video += count
    shuffled = np.random.default_rng((seed, domain_index)).permutation(n_videos)
    grouped = sorted(range(n_videos), key=lambda i: (ATTACKS.index(plans[i].attack), plans[i].identity, shuffled[i]))
    split_of = dict(zip(grouped, _deal_splits(n_videos, splits)))
    frames = [min(frames_per_video, per_domain - i * frames_per_video) for i in range(n_videos)]
    return [(plans[i], split_of[i], frames[i]) for i in range(n_videos)]


def iter_records(
    *,
    per_domain: int = 200,
    size: int = 224,
    seed: int = 0,
    frames_per_video: int = 2,
    domains: tuple[str, ...] | None = None,
    mix: dict[str, float] | None = None,
    splits: dict[str, float] | None = None,
    progress: bool = False,
    cue_masks: list | None = None,
):
    """Yield contract rows (image as JPEG bytes) for every frame of every planned video; with a list as
    `cue_masks`, each spoof frame's cue-mask rows (`datasets_scripts.cue_masks`) are appended to it."""
    names = domains or tuple(d.name for d in DOMAINS)
    for name in names:
        domain_by_name(name)
    sources = load_sources()
    jobs = [
        job
        for name in names
        for job in plan_domain(name, per_domain, frames_per_video, seed, mix or DEFAULT_MIX, splits or DEFAULT_SPLITS)
    ]
    for plan, split, n_frames in tqdm(jobs, desc="SynthFAS videos", disable=not progress):
        video_id = f"{plan.domain}-{plan.seed[-1]:05d}"
        try:
            masks = [] if cue_masks is not None else None
            frames = render_video(plan, size, n_frames, masks)
        except Exception:  # a failed render must not lose the rest of the corpus
            logger.exception("SynthFAS: skipped video %s (%s)", video_id, plan)
            continue
        for frame_index, (jpeg, detail) in enumerate(frames):
            if cue_masks is not None:
                cue_masks += cue_mask_rows(plan.domain, video_id, frame_index, masks[frame_index])
            yield make_record(
                image={"bytes": jpeg, "path": None},
                label=LABEL_LIVE if plan.attack == "none" else LABEL_SPOOF,
                attack_type=plan.attack,
                attack_detail=detail,
                dataset=plan.domain,
                split=split,
                subject=sources[plan.identity % len(sources)].name,
                video_id=video_id,
                frame_index=frame_index,
            )


def build_synthfas(
    out_dir: str | os.PathLike | None = None,
    *,
    per_domain: int = 200,
    size: int = 224,
    seed: int = 0,
    frames_per_video: int = 2,
    domains: tuple[str, ...] | None = None,
    mix: dict[str, float] | None = None,
    splits: dict[str, float] | None = None,
    progress: bool = False,
) -> DatasetDict:
    """Build SynthFAS as a contract `DatasetDict` (one key per split) and, with `out_dir`, save it there with its
    cue masks beside it (`<out_dir>/cue_masks`, `datasets_scripts.cue_masks.load_cue_masks`).

    A finished build in `out_dir` with the same settings is loaded instead of rebuilt.
    """
    config = {
        "per_domain": per_domain, "size": size, "seed": seed, "frames_per_video": frames_per_video,
        "domains": list(domains or [d.name for d in DOMAINS]), "mix": mix or DEFAULT_MIX,
        "splits": splits or DEFAULT_SPLITS, "cue_masks": True,
    }
    if per_domain < 1 or size < 16 or frames_per_video < 1:
        raise ValueError(f"SynthFAS needs per_domain >= 1, size >= 16, frames_per_video >= 1; got {config}")
    config_path = Path(out_dir) / CONFIG_FILE if out_dir is not None else None
    if config_path is not None and config_path.exists() and json.loads(config_path.read_text()) == config:
        logger.info("SynthFAS: %s already holds this build; loading it", out_dir)
        return load_from_disk(str(out_dir))
    rows: dict[str, list[dict]] = {name: [] for name in config["splits"]}
    mask_rows = [] if out_dir is not None else None
    records = iter_records(
        per_domain=per_domain, size=size, seed=seed, frames_per_video=frames_per_video, domains=domains,
        mix=mix, splits=splits, progress=progress, cue_masks=mask_rows,
    )
    for record in records:
        rows[record["split"]].append(record)
    corpus = DatasetDict(
        {
            split: Dataset.from_dict({column: [row[column] for row in items] for column in FEATURES}, features=FEATURES)
            for split, items in rows.items()
            if items
        }
    )
    check_dataset(corpus, where="SynthFAS")
    if out_dir is not None:
        corpus.save_to_disk(str(out_dir))
        save_cue_masks(mask_rows, out_dir)
        config_path.write_text(json.dumps(config, indent=1))
        logger.info("SynthFAS: saved %s rows to %s", {k: len(v) for k, v in corpus.items()}, out_dir)
    return corpus


def leave_one_domain_out(
    dataset_dict_or_path: DatasetDict | str | os.PathLike, target_domain: str
) -> tuple[Dataset, Dataset, Dataset]:
    """(train, dev, test) for the leave-one-domain-out protocol.

    train and dev are the train and dev splits of every other domain; test is every row of the target domain (all
    its splits: no part of it is seen in training or calibration, and more rows make HTER less of a coin toss).
    """
    corpus = dataset_dict_or_path
    if not isinstance(corpus, DatasetDict):
        path = Path(corpus)
        if not (path / "dataset_dict.json").exists():
            raise FileNotFoundError(f"{path}: not a saved SynthFAS DatasetDict (no dataset_dict.json)")
        corpus = load_from_disk(str(path))
    missing = [split for split in ("train", "dev", "test") if split not in corpus]
    if missing:
        raise ValueError(f"SynthFAS corpus lacks split(s) {missing}; has {list(corpus)}")
    present = set(corpus["test"]["dataset"])
    if target_domain not in present:
        raise ValueError(f"target domain {target_domain!r} not in the corpus; domains: {sorted(present)}")

    def pick(split: str, keep_target: bool) -> Dataset:
        return corpus[split].filter(
            lambda names: [(name == target_domain) == keep_target for name in names],
            batched=True,
            input_columns=["dataset"],
        )

    test = concatenate_datasets([pick(split, True) for split in corpus])
    return pick("train", False), pick("dev", False), test


def save_preview(path: str | os.PathLike, *, size: int = 160, seed: int = 0, per_row: int = 6) -> Path:
    """Write a contact sheet PNG: one row per (domain, attack type), `per_row` distinct videos each."""
    import cv2

    from datasets_scripts.synth.capture import decode

    rows = []
    for domain_index, domain in enumerate(DOMAINS):
        for attack in ATTACKS:
            tiles = []
            for k in range(per_row):
                video = 90000 + 100 * ATTACKS.index(attack) + k  # outside any corpus's video numbers
                plan = VideoPlan(domain.name, attack, k, seed=(seed, domain_index, video))
                jpeg, detail = render_video(plan, size, 1)[0]
                tile = cv2.cvtColor(decode(jpeg), cv2.COLOR_RGB2BGR)
                cv2.putText(tile, detail.replace("print:", "").replace("replay:", ""), (3, size - 6),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
                tiles.append(tile)
            label = np.zeros((size, 90, 3), np.uint8)
            cv2.putText(label, domain.name, (4, size // 2 - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
            cv2.putText(label, attack, (4, size // 2 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
            rows.append(np.hstack([label, *tiles]))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), np.vstack(rows)):
        raise OSError(f"{out}: could not write the preview PNG")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="output folder for the saved DatasetDict")
    parser.add_argument("--per_domain", type=int, default=200, help="images per capture domain")
    parser.add_argument("--size", type=int, default=224, help="square image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames_per_video", type=int, default=2)
    parser.add_argument("--domains", help="comma-separated subset of " + ",".join(d.name for d in DOMAINS + EXTRA_DOMAINS))
    parser.add_argument("--preview", help="also write a contact-sheet PNG here (e.g. outputs/synthfas.png)")
    args = parser.parse_args(argv)
    if not args.out and not args.preview:
        parser.error("give --out (and/or --preview)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.out:
        corpus = build_synthfas(
            args.out, per_domain=args.per_domain, size=args.size, seed=args.seed,
            frames_per_video=args.frames_per_video,
            domains=tuple(args.domains.split(",")) if args.domains else None, progress=True,
        )
        for split, ds in corpus.items():
            labels = np.asarray(ds["label"])
            live = int((labels == LABEL_LIVE).sum())
            logger.info("%s: %d rows, %d live, %d spoof", split, len(ds), live, len(ds) - live)
    if args.preview:
        logger.info("preview written to %s", save_preview(args.preview, seed=args.seed))


if __name__ == "__main__":
    from ifas.cli.errors import run_cli

    raise SystemExit(run_cli(main))
