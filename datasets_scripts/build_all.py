"""Build every corpus found under a parent folder of raw copies: `RAW_PARENT/<name>` -> `OUT_PARENT/<name>`.

`<name>` is the registry name (`datasets_scripts.corpora.BUILDERS`, e.g. `RAW_PARENT/siw/SiW/...`,
`RAW_PARENT/wmca/WMCA/...`); each corpus module finds its own layout inside that folder. Corpora without a
folder are listed as missing; a corpus whose build fails is logged and reported, and the others still build
(each build is itself resumable and atomic, see `datasets_scripts.build`).

Example:
    >>> summary = build_all("raw", "data", num_proc=2)  # doctest: +SKIP
    >>> summary["missing"]  # doctest: +SKIP
    ['hifimask', 'wmca']
"""

from __future__ import annotations

import logging
from pathlib import Path

from datasets_scripts.build import build_corpus
from datasets_scripts.corpora import BUILDERS

logger = logging.getLogger(__name__)


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
