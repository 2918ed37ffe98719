"""Smoke test of the `make demo` path with a tiny random model and tiny SynthFAS data, two seeds; a rerun into the
same folder with other settings is refused (as a user runs it, a subprocess) instead of reusing its checkpoints."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file
from transformers import AutoModel

from ifas.demo import run as demo


def test_tiny_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = demo.main(["--tiny", "--out", str(out)])
    summary = (out / "summary.md").read_text()
    assert "Held-out-domain results per seed" in summary and "Typographic injection" in summary
    assert "## Where the maps point" in summary  # pointing game against the SynthFAS cue masks
    assert (out / "synthfas" / "cue_masks").is_dir()
    document = json.loads((out / "demo_results.json").read_text())
    assert document["seeds"] == [0, 1] and set(document["per_seed"]) == {"0", "1"}
    for model in ("ifas", "baseline"):
        for metric in ("auc", "hter"):
            values = [run[model][metric] for run in document["per_seed"].values()]
            assert document["median"][model][metric] == statistics.median(values)
    for run in document["per_seed"].values():
        assert 0.0 <= run["train_judgment_accuracy"] <= 1.0
        assert run["median_p_live"]["live"] is not None
    rates = document["explanation_rates"]
    assert rates["n"] == len(document["answers"]) and 0 <= rates["agrees_with_judgment"] <= 1
    assert document["injection"]["n"] == sum(1 for a in result["answers"] if a["label"] != 0) or \
        document["injection"]["n"] > 0
    results = json.loads((out / "report" / "results.json").read_text())
    assert "synth_d" in results["targets"] and results["threshold"] is not None
    assert set(result["baseline"]) == set(results["targets"])
    assert sorted(p.name for p in (out / "report").glob("roc_*.png"))
    config = json.loads((out / "checkpoint" / "config.json").read_text())
    assert config["threshold"] == results["threshold"]  # calibrated into the checkpoint
    model = AutoModel.from_pretrained(str(out / "checkpoint"), trust_remote_code=True)
    assert model.config.threshold == results["threshold"]
    seeds = [load_file(str(out / f"seed_{seed}" / "initial_checkpoint" / "model.safetensors")) for seed in (0, 1)]
    tower = [key for key in seeds[0] if ".vision_tower." in key]
    gac = [key for key in seeds[0] if ".gac." in key and key.endswith("weight")]
    assert tower and all((seeds[0][key] == seeds[1][key]).all() for key in tower)  # one "pretrained" tower
    assert any((seeds[0][key] != seeds[1][key]).any() for key in gac)  # each seed draws its own connector
    rerun = subprocess.run([str(Path(sys.executable).parent / "ifas"), "demo", "--tiny", "--out", str(out),
                            "--caption_noise", "0.3"], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert rerun.returncode == 1 and "Traceback" not in rerun.stderr, rerun.stderr[-3000:]
    assert f"error: {out} holds results of other settings (caption_noise: 0.0 there, 0.3 now)" in rerun.stderr
    assert json.loads((out / "demo_results.json").read_text()) == document  # nothing of the first run touched
