"""Smoke test of the `make demo` path with a tiny random model and tiny SynthFAS data."""

import json

from transformers import AutoModel

import demo


def test_tiny_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = demo.main(["--tiny", "--out", str(out)])
    summary = (out / "summary.md").read_text()
    assert "Cross-domain results" in summary and "held-out domain" in summary
    assert len(result["answers"]) >= 2 and all(a["judgment"] in ("Yes", "No") for a in result["answers"])
    results = json.loads((out / "report" / "results.json").read_text())
    assert "synth_d" in results["targets"] and results["threshold"] is not None
    assert set(result["baseline"]) == set(results["targets"])
    assert sorted(p.name for p in (out / "report").glob("roc_*.png"))
    config = json.loads((out / "checkpoint" / "config.json").read_text())
    assert config["threshold"] == results["threshold"]  # calibrated into the checkpoint
    model = AutoModel.from_pretrained(str(out / "checkpoint"), trust_remote_code=True)
    assert model.config.threshold == results["threshold"]
