"""SCF with the simulated captioner, in four arms, to measure what the keyword filter and C_S are worth.

Arms (`SCF_ARMS`), on every split of a contract DatasetDict:
- `no_captions`: every caption empty (training answers are the judgment word alone);
- `all_captions`: every C_G caption kept, mistakes included;
- `filtered`: C_G captions that the SCF filter (`caption_filter.judge_caption`) keeps; rejected rows get none;
- `filtered_cs`: as `flow.run_scf` with `finetune=True`: C_S, fine-tuned on the kept captions, re-captions the
  rejected rows and all live rows, and its kept captions replace theirs; rows still without one get none.
Unlike `run_scf`, no template caption fills the gaps: a rejected row trains on its judgment alone, as in the paper.

The report is `report.build_report`'s, plus `errors`: per C_G mistake ("miss", "wrong", "contradict", "none"), the
rows that got it and how many of them the filter rejected, and the reasons it gave.

Example:
    >>> captioned, report = simulated_scf(corpus, "filtered", SimulatedCaptioner(contradict_rate=0.2))  # doctest: +SKIP
    >>> report["errors"]["contradict"]["rejected"] == report["errors"]["contradict"]["rows"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections import Counter

from datasets import DatasetDict

from datasets_scripts.contract import LABEL_LIVE, check_dataset
from datasets_scripts.scf.caption_filter import judge_caption
from datasets_scripts.scf.flow import LIGHT_COLUMNS
from datasets_scripts.scf.keywords import family_of
from datasets_scripts.scf.report import STAGES, build_report
from datasets_scripts.scf.simulated_captioner import SimulatedCaptioner

SCF_ARMS = ("no_captions", "all_captions", "filtered", "filtered_cs")


def _judge(row: dict, caption: str) -> str:
    return judge_caption(caption, row["label"], row["attack_type"], row["attack_detail"] or "").reason


def simulated_scf(dataset: DatasetDict, arm: str, captioner: SimulatedCaptioner) -> tuple[DatasetDict, dict]:
    """Fill `caption` and `caption_source` of every split for `arm`; return the new DatasetDict and the report."""
    if arm not in SCF_ARMS:
        raise ValueError(f"SCF arm {arm!r} is not one of {SCF_ARMS}")
    check_dataset(dataset, where="simulated SCF input")
    rows = [(split, row) for split, ds in dataset.items() for row in ds.select_columns(list(LIGHT_COLUMNS)).to_list()]
    general = captioner.caption([row for _, row in rows])
    reasons = [_judge(row, caption) for (_, row), caption in zip(rows, general)]
    traces = [{stage: None for stage in STAGES} | {"general": reason} for reason in reasons]
    if arm == "no_captions":
        adopted = [("", "")] * len(rows)
    elif arm == "all_captions":
        adopted = [(caption, captioner.source) for caption in general]
    else:
        adopted = [(c, captioner.source) if r == "kept" else ("", "") for c, r in zip(general, reasons)]
    if arm == "filtered_cs":
        kept = [row | {"caption": c} for (_, row), (c, _) in zip(rows, adopted) if c]
        spoof_aware = captioner.fine_tuned(kept)
        again = [i for i, (_, row) in enumerate(rows) if not adopted[i][0] or row["label"] == LABEL_LIVE]
        for i, caption in zip(again, spoof_aware.caption([rows[i][1] for i in again])):
            traces[i]["spoof_aware"] = _judge(rows[i][1], caption)
            if traces[i]["spoof_aware"] == "kept":
                adopted[i] = (caption, spoof_aware.source)
    for (split, row), trace, (_, source) in zip(rows, traces, adopted):
        trace.update(dataset=row["dataset"], attack_type=row["attack_type"], split=split, caption_source=source,
                     family=family_of(row["attack_type"], row["attack_detail"] or ""))
    output, start = DatasetDict(), 0
    for split, ds in dataset.items():
        part = adopted[start:start + len(ds)]
        start += len(ds)
        columns = ds.column_names
        ds = ds.remove_columns(["caption", "caption_source"]).add_column("caption", [c for c, _ in part])
        output[split] = ds.add_column("caption_source", [s for _, s in part]).select_columns(columns)
    report = build_report(traces, settings={"arm": arm, **captioner.settings})
    return output, report | {"errors": error_report(captioner, [row for _, row in rows], reasons)}


def error_report(captioner: SimulatedCaptioner, rows: list[dict], reasons: list[str]) -> dict:
    """Per C_G mistake ("none" for a correct caption): rows, how many the filter rejected, and its reasons."""
    groups: dict[str, Counter] = {}
    for row, reason in zip(rows, reasons):
        groups.setdefault(captioner.error_of(row) or "none", Counter())[reason] += 1
    return {error: {"rows": sum(c.values()), "rejected": sum(n for r, n in c.items() if r != "kept"),
                    "reasons": dict(sorted(c.items()))} for error, c in sorted(groups.items())}
