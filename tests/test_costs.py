"""Tests for randsmooth.costs: cost matrices, validation, presets (Xin et al. 2025, reference test vectors), configs."""

from __future__ import annotations

import numpy as np
import pytest

from randsmooth import costs
from randsmooth.costs import CostMatrix


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[0, 1, 0]], "square"),
        ([[0.0]], "K >= 2"),
        (np.zeros((2, 2, 2)), "square"),
        ([[0, -1], [0, 0]], ">= 0"),
        ([[1, 1], [1, 0]], "diagonal must be 0"),
        ([[0, np.nan], [0, 0]], "finite"),
        ([[0, np.inf], [0, 0]], "finite"),
        ([["a", "b"], ["c", "d"]], "array of numbers"),
    ],
)
def test_cost_matrix_validation_errors(matrix, message):
    with pytest.raises(ValueError, match=message):
        CostMatrix(matrix)


def test_cost_matrix_basic_queries_and_read_only():
    cm = CostMatrix([[0, 5, 2], [1, 0, 0], [0, 0, 0]])
    assert cm.num_classes == 3
    assert cm.sensitive_targets(0) == (1, 2)
    assert cm.sensitive_targets(1) == (0,)
    assert cm.sensitive_targets(2) == ()
    assert cm.seed_classes == (0, 1)
    assert cm.cost(0, 1) == 5.0 and cm.max_cost(0) == 5.0 and cm.max_cost(2) == 0.0
    np.testing.assert_array_equal(cm.is_seed([0, 1, 2, 2, 0]), [True, True, False, False, True])
    with pytest.raises(ValueError):
        cm.matrix[0, 1] = 3.0
    with pytest.raises(ValueError, match="class index"):
        cm.sensitive_targets(3)
    with pytest.raises(ValueError, match="integer"):
        cm.sensitive_targets(1.5)
    with pytest.raises(ValueError, match="class indices"):
        cm.is_seed([0, 3])


def test_explicit_seeds_validation():
    cm = CostMatrix([[0, 10], [1, 0]], seeds=(0,))
    assert cm.seed_classes == (0,)
    np.testing.assert_array_equal(cm.is_seed([0, 1]), [True, False])
    with pytest.raises(ValueError, match="empty Omega"):
        CostMatrix([[0, 1, 0], [0, 0, 0], [0, 0, 0]], seeds=(1,))
    with pytest.raises(ValueError, match="class indices"):
        CostMatrix([[0, 1], [1, 0]], seeds=(2,))


# ------------------------------------------------------------------------------- builders
def test_from_pairs_and_errors():
    cm = costs.from_pairs(4, [(1, 2, 3.5), (1, 0), {"seed": 3, "target": 1}])
    assert cm.cost(1, 2) == 3.5 and cm.cost(1, 0) == 1.0 and cm.cost(3, 1) == 1.0
    assert cm.sensitive_targets(1) == (0, 2)
    for pairs, message in [
        ([(1, 1, 1.0)], "differ"),
        ([(0, 4, 1.0)], r"\[0, 4\)"),
        ([(0, 1, 0.0)], "positive"),
        ([(0, 1, -2.0)], "positive"),
        ([(0, 1, float("nan"))], "positive"),
        ([(0, 1), (0, 1, 2.0)], "twice"),
        ([], "at least one"),
        ([(0,)], "seed, target"),
        ([(0, 1, "x")], "number"),
    ]:
        with pytest.raises(ValueError, match=message):
            costs.from_pairs(4, pairs)


def test_overall_matrix():
    cm = costs.overall(4)
    for y in range(4):
        assert cm.sensitive_targets(y) == tuple(j for j in range(4) if j != y)
    assert cm.seed_classes == (0, 1, 2, 3)


# -------------------------------------------------------------------------------- presets
@pytest.mark.parametrize(
    "name, dataset, expected, seeds",
    [
        ("s-seed", "cifar10", {3: tuple(j for j in range(10) if j != 3)}, (3,)),
        (
            "M-Seed",
            "cifar10",
            {2: tuple(j for j in range(10) if j != 2), 4: tuple(j for j in range(10) if j != 4)},
            (2, 4),
        ),
        ("s_pair", "cifar10", {3: (5,)}, (3,)),
        ("single", "CIFAR-10", {3: (5,)}, (3,)),
        ("m-pair", "cifar10", {3: (2, 4, 5)}, (3,)),
        ("multi", "cifar10", {3: (2, 4, 5)}, (3,)),
        ("multi2", "cifar10", {3: (2, 4, 5, 7, 9)}, (3,)),
        ("single", "imagenette", {7: (2,)}, (7,)),
        ("multi", "imagenette", {7: (2, 4, 6)}, (7,)),
    ],
)
def test_presets(name, dataset, expected, seeds):
    cm = costs.preset(name, dataset)
    assert cm.num_classes == 10
    assert cm.seed_classes == seeds
    for y in range(10):
        assert cm.sensitive_targets(y) == expected.get(y, ())
        for j in expected.get(y, ()):
            assert cm.cost(y, j) == 1.0


def test_ham_preset():
    cm = costs.preset("ham", "ham10000")
    np.testing.assert_array_equal(cm.matrix, [[0, 10], [1, 0]])
    assert cm.seed_classes == (0,)
    assert cm.sensitive_targets(0) == (1,) and cm.sensitive_targets(1) == (0,)
    assert costs.preset("default", "HAM10k").seed_classes == (0,)
    padded = costs.preset("ham", "ham", num_classes=4)
    assert padded.num_classes == 4 and padded.cost(0, 1) == 10 and padded.sensitive_targets(2) == ()


def test_preset_errors():
    with pytest.raises(ValueError, match="unknown cost preset 'x-seed'"):
        costs.preset("x-seed", "cifar10")
    with pytest.raises(ValueError, match="dataset 'mnist'"):
        costs.preset("s-seed", "mnist")
    with pytest.raises(ValueError, match=">= 10"):
        costs.preset("s-seed", "cifar10", num_classes=5)


# -------------------------------------------------------------------------------- configs
def test_config_round_trips():
    cm = costs.from_pairs(3, [(0, 1, 5.0), (0, 2, 2.0), (1, 0, 1.0)], seeds=(0,), name="toy")
    sparse = costs.to_config(cm)
    assert sparse == {"name": "toy", "num_classes": 3, "pairs": [[0, 1, 5.0], [0, 2, 2.0], [1, 0, 1.0]], "seeds": [0]}
    dense = costs.to_config(cm, dense=True)
    assert dense["matrix"] == [[0.0, 5.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    for cfg in (sparse, dense):
        back = costs.from_config(cfg)
        np.testing.assert_array_equal(back.matrix, cm.matrix)
        assert back.seed_classes == (0,) and back.name == "toy"
    np.testing.assert_array_equal(costs.from_config([[0, 1], [0, 0]]).matrix, [[0, 1], [0, 0]])
    assert costs.from_config({"preset": "s-pair", "dataset": "cifar10"}).sensitive_targets(3) == (5,)
    pairs_as_maps = {"num_classes": 3, "pairs": [{"seed": 2, "target": 0, "cost": 4}]}
    assert costs.from_config(pairs_as_maps).cost(2, 0) == 4.0


def test_config_errors():
    with pytest.raises(ValueError, match="unknown key"):
        costs.from_config({"pairs": [], "num_classes": 3, "bogus": 1})
    with pytest.raises(ValueError, match="num_classes"):
        costs.from_config({"pairs": [[0, 1, 1]]})
    with pytest.raises(ValueError, match="dataset"):
        costs.from_config({"preset": "s-seed"})
    with pytest.raises(ValueError, match="one of the keys"):
        costs.from_config({"name": "x"})
    with pytest.raises(ValueError, match="mapping or a dense list"):
        costs.from_config("s-seed")
    with pytest.raises(ValueError, match="2 x 2"):
        costs.from_config({"matrix": [[0, 1], [1, 0]], "num_classes": 3})
