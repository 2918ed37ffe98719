"""A run folder remembers the settings its results came from, so that a rerun resumes only its own work.

`ifas demo` and `bench/bench_claims.py` reuse what a folder holds (data, captions, checkpoints, per-seed results);
`check_settings` writes ``settings.json`` on the first run and refuses a folder whose results came from other
settings, naming the settings that differ.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_settings(folder, {"training": {"max_steps": 100}})
    >>> try:
    ...     check_settings(folder, {"training": {"max_steps": 20}})
    ... except ValueError as error:
    ...     print(str(error).split(" (")[1].split(")")[0])
    training.max_steps: 100 there, 20 now
"""

from __future__ import annotations

import json
from pathlib import Path


def flat(settings: dict, prefix: str = "") -> dict:
    """Nested settings as {"section.key": value}.

    >>> flat({"seed": 0, "model": {"gac_layers": [-1]}})
    {'seed': 0, 'model.gac_layers': [-1]}
    """
    items = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            items.update(flat(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def check_settings(folder: Path, settings: dict) -> None:
    """Record `settings` in ``folder/settings.json``; raise a ValueError naming the differing settings when the
    folder holds results of other ones (a folder without the file is adopted)."""
    path = Path(folder) / "settings.json"
    text = json.dumps(settings, indent=1, sort_keys=True)
    if path.exists() and path.read_text() != text:
        then, now = flat(json.loads(path.read_text())), flat(json.loads(text))
        changed = [f"{key}: {then.get(key, 'unset')} there, {now.get(key, 'unset')} now"
                   for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)]
        raise ValueError(f"{folder} holds results of other settings ({'; '.join(changed)}): use another --out, or "
                         f"delete the folder to start again")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
