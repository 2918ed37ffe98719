"""Pointing game and mass share (`ifas.fas_metrics.localisation`) against hand-computed cases, baselines included."""

import numpy as np
import pytest

from ifas.fas_metrics.localisation import aggregate, centre_prior, localisation, mask_coverage, mass_share, pointing_hit


def test_coverage_is_the_share_of_each_cell_inside_the_mask():
    mask = np.zeros((8, 8), bool)
    mask[5, 2] = True  # row 5, column 2: cell (2, 1) of a 4 x 4 grid of 2 x 2 pixel cells, a quarter of it
    expected = np.zeros((4, 4))
    expected[2, 1] = 0.25
    np.testing.assert_allclose(mask_coverage(mask, [0, 0, 8, 8], (4, 4)), expected)
    # a box reaching beyond the image: only its bottom-right cell lies on the (all-True) image
    np.testing.assert_allclose(mask_coverage(np.ones((8, 8), bool), [-4, -4, 4, 4], (2, 2)), [[0, 0], [0, 1]])
    # a box on part of a larger image: the mask's 6 x 6 block at the top left covers cells fully or by a third
    big = np.zeros((12, 12), bool)
    big[:6, :6] = True
    np.testing.assert_allclose(mask_coverage(big, [3, 3, 12, 12], (3, 3)),
                               [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_pointing_game_hits_within_one_cell_and_misses_beyond():
    coverage = np.zeros((5, 5))
    coverage[0, 0] = 0.1
    heatmap = np.zeros((5, 5))
    heatmap[1, 1] = 1.0  # diagonal neighbour of the mask's cell
    assert pointing_hit(heatmap, coverage)
    heatmap[1, 1], heatmap[2, 0] = 0.0, 1.0  # two rows below
    assert not pointing_hit(heatmap, coverage)
    assert pointing_hit(heatmap, coverage, tolerance=2)
    assert not pointing_hit(np.zeros((5, 5)), coverage)  # a map with no evidence points nowhere


def test_mass_share_by_hand():
    coverage = np.array([[1.0, 0.0], [0.5, 0.0]])
    assert mass_share([[1.0, 3.0], [0.0, 0.0]], coverage) == pytest.approx(0.25)  # 1 / (1 + 3)
    assert mass_share([[0.0, 2.0], [2.0, 0.0]], coverage) == pytest.approx(0.25)  # 2 * 0.5 / 4
    assert mass_share([[-5.0, 1.0], [0.0, 0.0]], coverage) == 0.0  # negative values carry no mass
    assert mass_share(np.zeros((2, 2)), coverage) == 0.0


def test_baselines_centre_prior_and_seeded_random_map():
    prior = centre_prior((4, 4))
    assert prior[1, 1] == pytest.approx(np.exp(-0.25)) and prior[0, 0] == pytest.approx(np.exp(-2.25))
    mask = np.zeros((8, 8), bool)
    mask[6:, 6:] = True  # bottom-right cell (3, 3): two cells from the prior's peak (1, 1)
    result = localisation({"judgment": np.eye(4)[::-1]}, mask, [0, 0, 8, 8], np.random.default_rng(0))
    random_map = np.random.default_rng(0).random((4, 4))
    row, col = np.unravel_index(random_map.argmax(), (4, 4))
    assert result["centre"] == {"hit": False, "mass": pytest.approx(np.exp(-2.25) / prior.sum())}
    assert result["random"]["hit"] == (row >= 2 and col >= 2)
    assert result["random"]["mass"] == pytest.approx(random_map[3, 3] / random_map.sum())
    # the anti-diagonal's first maximum is (0, 3): three rows above the mask's cell; its mass there is 0
    assert result["judgment"] == {"hit": False, "mass": 0.0}
    diagonal = np.eye(4)
    assert localisation({"judgment": diagonal}, mask, [0, 0, 8, 8], np.random.default_rng(0))["judgment"] == {
        "hit": False, "mass": pytest.approx(0.25)}  # ties: the first maximum (0, 0) is far from the mask
    diagonal[3, 3] = 2.0
    assert localisation({"judgment": diagonal}, mask, [0, 0, 8, 8], np.random.default_rng(0))["judgment"] == {
        "hit": True, "mass": pytest.approx(0.4)}


def test_aggregate_per_family_and_overall():
    def sample(family, hit, mass):
        return {"family": family, "localisation": {"judgment": {"hit": hit, "mass": mass},
                                                   "centre": {"hit": False, "mass": 0.1}}}

    result = aggregate([sample("print", True, 0.5), sample("print", False, 0.1), sample("replay", True, 0.3)])
    assert result["print"] == {"n": 2, "judgment": {"pointing": 0.5, "mass": pytest.approx(0.3)},
                               "centre": {"pointing": 0.0, "mass": pytest.approx(0.1)}}
    assert result["all"]["n"] == 3 and result["all"]["judgment"]["pointing"] == pytest.approx(2 / 3)


def test_aggregate_takes_the_median_evidence_share_where_every_map_has_one():
    def sample(share):
        entry = {"hit": True, "mass": 0.5} | ({} if share is None else {"share": share})
        return {"family": "print", "localisation": {"judgment": entry, "centre": {"hit": False, "mass": 0.1}}}

    result = aggregate([sample(1e-9), sample(0.5), sample(0.2)])
    assert result["all"]["judgment"]["share"] == 0.2 and "share" not in result["all"]["centre"]
    assert "share" not in aggregate([sample(0.3), sample(None)])["all"]["judgment"]
