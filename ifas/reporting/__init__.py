"""FAS evaluation reports: results.json and Markdown tables, ROC/DET/histogram PNGs, and the Hub model card.

Example:
    >>> from ifas.reporting import build_results, write_tables, write_plots
    >>> results = build_results(records_by_target, dev_records=dev, video_level=True)  # doctest: +SKIP
    >>> write_tables(results, "report/"); write_plots(records_by_target, "report/", results)  # doctest: +SKIP
"""

from .model_card import render_model_card, write_model_card
from .plots import write_plots
from .tables import (
    AVERAGED_KEYS,
    SCHEMA,
    build_results,
    full_table_markdown,
    load_results,
    paper_table_markdown,
    records_to_columns,
    results_markdown,
    write_document,
    write_tables,
)

__all__ = [
    "AVERAGED_KEYS",
    "SCHEMA",
    "build_results",
    "full_table_markdown",
    "load_results",
    "paper_table_markdown",
    "records_to_columns",
    "render_model_card",
    "results_markdown",
    "write_document",
    "write_model_card",
    "write_plots",
    "write_tables",
]
