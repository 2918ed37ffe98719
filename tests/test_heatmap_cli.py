"""``ifas predict --heatmap DIR`` as a user runs it: a subprocess writing one overlay PNG per image."""

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tiny_inputs import random_image


def test_predict_writes_heatmap_overlays(tiny_checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    random_image(1, (20, 24)).save(photos / "a.png")
    random_image(2, (30, 16)).save(photos / "b.jpg")
    out, maps = tmp_path / "results.jsonl", tmp_path / "maps"
    command = "import sys, ifas.cli.predict as p; p.main(sys.argv[1:])"  # `ifas predict` without its exit status
    run = subprocess.run([sys.executable, "-c", command, tiny_checkpoint, str(photos), "--out", str(out), "--heatmap",
                          str(maps), "--max_new_tokens", "3"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in records] == ["a.png", "b.jpg"]
    for record, size in zip(records, [(20, 24), (30, 16)]):
        panel = Image.open(record["heatmap"])
        assert Path(record["heatmap"]).parent == maps and "explanation" not in record
        assert panel.size == (3 * size[0], size[1])  # the image the model saw, judgment map, explanation map
        assert 0.0 <= record["heatmap_share"] <= 1.0  # how much of the decision's evidence the map shows
