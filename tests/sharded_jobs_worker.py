"""Run several command lines in the processes of one ``accelerate launch`` (tests/test_sharded_jobs.py): one process
start-up for the sharded evaluation, prediction and SCF captioning. Each argument is a JSON list: the entry point
("evaluate_fas", "ifas" or "scf") and its arguments. Every row an evaluation scores and every input a prediction
makes is printed on stderr as ``MADE <job> <target> <row or path>``, so that the test sees each done once."""

import json
import sys

import ifas.cli as ifas_cli
import ifas.cli.predict
from ifas import evaluation as evaluate_fas
from datasets_scripts.scf.__main__ import main as scf_main


def reporting(module, name: str, describe) -> None:
    """Wrap the generator `module.name` so that it prints each record it yields."""
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        for record in real(*args, **kwargs):
            sys.stderr.write(f"MADE {describe(args, record)}\n")  # one write: lines of two processes do not mix
            sys.stderr.flush()
            yield record

    setattr(module, name, wrapper)


reporting(evaluate_fas, "_score_rows", lambda args, record: f"evaluate {args[5]} {record['row']}")
reporting(ifas_cli.predict, "iter_predictions", lambda args, record: f"predict - {record['path']}")
ENTRY_POINTS = {"evaluate_fas": lambda argv: evaluate_fas.main(argv) and 0, "ifas": ifas_cli.main, "scf": scf_main}

for argument in sys.argv[1:]:
    name, *argv = json.loads(argument)
    status = ENTRY_POINTS[name](argv)
    if status:
        sys.exit(status)
