"""bench/bench_claims.py without training: its grids, the shared recipe run, the settings guard, tables and plot."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_claims  # noqa: E402

from ifas.demo.settings import check_settings  # noqa: E402


def test_grids_and_the_shared_recipe_run():
    grid = bench_claims.variants("generic")
    by_claim = {claim: [v for v in grid if v.claim == claim] for claim in ("noise", "scf", "gac")}
    assert [len(by_claim[c]) for c in ("noise", "scf", "gac")] == [3 * 4, 4, 5]
    assert {v.overrides["caption_noise"] for v in by_claim["noise"]} == {0.0, 0.3, 0.6}
    assert {v.overrides["training.judgment_weight"] for v in by_claim["noise"]} == {None, 0.5, 0.7, 0.9}
    assert all(v.overrides["caption_noise_kind"] == "generic" for v in by_claim["noise"])
    recipe = next(v for v in grid if v.name == "noise0.0_a0.7")
    gac_all = next(v for v in grid if v.name == "gac_all")
    assert recipe.settings() == gac_all.settings()  # one run serves both tables
    assert len({v.settings() for v in grid}) == len(grid) - 1


def test_a_run_folder_of_other_settings_is_refused(tmp_path):
    check_settings(tmp_path / "run", {"config": {"seed": 0}})
    check_settings(tmp_path / "run", {"config": {"seed": 0}})  # the same settings: resumed
    with pytest.raises(ValueError, match="other settings"):
        check_settings(tmp_path / "run", {"config": {"seed": 1}})


def test_tables_and_plot(tmp_path):
    grid = {v.name: v for v in bench_claims.variants()}
    seeds = [{"hter": h, "auc": 0.9, "named_family": 0.5, "agreement": 1.0, "minutes": 1.0} for h in (0.1, 0.05, 0.2)]
    outcomes = [(grid[f"noise{p}_{loss}"], {"seeds": seeds, "minutes": 3.0})
                for p in (0.0, 0.3) for loss in ("lm", "a0.7")]
    outcomes.append((grid["gac_last"], {"error": "ValueError: boom"}))
    table = bench_claims.claim_table(outcomes)
    assert "| plain LM, p=0.0 | 10.00 (5.00-20.00) | 90.00 (90.00-90.00) | 50.00" in table[2]
    assert table[-1].startswith("| last layer only | failed: ValueError: boom |")
    plot = bench_claims.plot_noise(outcomes, tmp_path / "noise.png")
    assert plot.stat().st_size > 1000
    assert bench_claims.plot_noise(outcomes[-1:], tmp_path / "none.png") is None
