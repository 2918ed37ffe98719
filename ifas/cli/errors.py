"""``error: ...`` instead of a traceback: how every console entry point runs its ``main(argv)``.

`run_cli` calls ``main(argv)`` and returns the exit status: 0 when it returns (or the int it returns), 1 with one
line ``error: <message>`` on stderr for an expected error, an exception in `EXPECTED_ERRORS` (a missing or
unreadable file, a bad value or checkpoint: the package's errors name the input), 2 for argparse's usage errors
(unchanged). ``--debug`` among the arguments (or ``IFAS_DEBUG=1`` in the environment) shows the traceback instead;
it is taken out of ``argv`` unless a value follows it (``train_sft.py --debug underflow_overflow`` is the
TrainingArguments option). Anything else (a bug) keeps its traceback. A reader that closes the pipe early
(``ifas predict photos/ | head -1``) ends the command quietly with status 141, as a shell reports SIGPIPE
(`closed_pipe_status`).

Used as ``if __name__ == "__main__": sys.exit(run_cli(main))`` and by the ``ifas`` dispatcher.

Example:
    >>> def main(argv):
    ...     raise ValueError(f"image file {argv[0]!r}: no such file")
    >>> run_cli(main, ["a.jpg"], stderr=sys.stdout)
    error: image file 'a.jpg': no such file
    1
    >>> run_cli(lambda argv: {"done": True}, [])
    0
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXPECTED_ERRORS = (OSError, ValueError, ImportError)


def wants_debug(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether the traceback was asked for, and `argv` without a bare ``--debug``.

    >>> wants_debug(["x.png", "--debug"])
    (True, ['x.png'])
    >>> wants_debug(["--debug", "underflow_overflow"])[1]
    ['--debug', 'underflow_overflow']
    """
    kept, debug = [], os.environ.get("IFAS_DEBUG", "") not in ("", "0")
    for i, arg in enumerate(argv):
        if arg == "--debug" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            debug = True
        else:
            kept.append(arg)
    return debug, kept


SIGPIPE_STATUS = 141


def closed_pipe_status(command: Callable[[], int]) -> int:
    """``command()``'s status with stdout flushed; `SIGPIPE_STATUS`, and no traceback, when stdout's reader is gone
    (stdout then points at the null device, so that Python's own flush at exit cannot fail again)."""
    try:
        try:
            return command()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_STATUS


def run_cli(main: Callable, argv: list[str] | None = None, stderr=None) -> int:
    """Run ``main(argv)`` (default: ``sys.argv[1:]``) as a command and return its exit status (module docstring)."""
    debug, argv = wants_debug(sys.argv[1:] if argv is None else list(argv))
    return closed_pipe_status(lambda: _status(main, argv, debug, stderr))


def _status(main: Callable, argv: list[str], debug: bool, stderr) -> int:
    try:
        status = main(argv)
    except BrokenPipeError:
        raise
    except EXPECTED_ERRORS as error:
        if debug:
            raise
        message = str(error) or type(error).__name__
        print(f"error: {message}", file=stderr or sys.stderr)
        return 1
    return status if isinstance(status, int) and not isinstance(status, bool) else 0
