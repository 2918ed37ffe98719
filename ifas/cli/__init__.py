"""The ``ifas`` command line: ``ifas predict`` scores images, folders and videos; ``ifas evaluate``, ``ifas build``
and ``ifas demo`` run the `main` of `ifas.evaluation`, `datasets_scripts.build` and `ifas.demo.run`; ``python -m ifas``
is the same command.

    ifas predict outputs/ifas photos/ clip.mp4 --explain --out results.jsonl
    ifas adapt outputs/ifas --live my/live --spoof print=my/prints --out outputs/ifas-adapted
    ifas evaluate --model outputs/ifas --protocol OCI_to_M --data_root data --out reports/oci_m
    ifas build --help
    ifas demo --tiny --out outputs/demo_tiny

Exit status: 0 when the command ran to its end, 1 with ``error: ...`` on stderr for an expected error (a missing
file, a bad checkpoint or value), 2 for a usage error; ``--debug`` shows the traceback (`ifas.cli.errors`).
"""

from __future__ import annotations

import importlib
import sys

from ifas.cli.errors import closed_pipe_status, run_cli

# command -> (module whose main(argv) it runs, one-line help)
COMMANDS = {
    "predict": ("ifas.cli.predict", "P(live), decision and face box per image, folder or video (JSON lines)"),
    "adapt": ("ifas.cli.adapt", "fine-tune a checkpoint on a few of your own captures, with a before/after report"),
    "evaluate": ("ifas.evaluation", "evaluate a checkpoint on datasets or a protocol (ifas.evaluation)"),
    "build": ("datasets_scripts.build", "build a contract dataset from a corpus (datasets_scripts.build)"),
    "demo": ("ifas.demo.run", "the end-to-end demo (ifas.demo.run)"),
}


def usage() -> str:
    lines = ["usage: ifas COMMAND [ARGS...] [--debug]   (ifas COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``ifas COMMAND ARGS...``; returns the exit status (the console script exits with it).

    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: ifas COMMAND ...
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    return closed_pipe_status(lambda: _dispatch(argv))


def _dispatch(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"ifas: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return run_cli(importlib.import_module(COMMANDS[command][0]).main, rest)
