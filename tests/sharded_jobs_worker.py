"""Run several command lines in the processes of one ``accelerate launch`` (tests/test_sharded_jobs.py): one process
start-up for the sharded evaluation, prediction and SCF captioning. Each argument is a JSON list: the entry point
("evaluate_fas", "ifas" or "scf") and its arguments."""

import json
import sys

import evaluate_fas
import ifas_cli
from datasets_scripts.scf.__main__ import main as scf_main

ENTRY_POINTS = {"evaluate_fas": lambda argv: evaluate_fas.main(argv) and 0, "ifas": ifas_cli.main, "scf": scf_main}

for argument in sys.argv[1:]:
    name, *argv = json.loads(argument)
    status = ENTRY_POINTS[name](argv)
    if status:
        sys.exit(status)
