"""Cost matrices for cost-sensitive certification (Xin et al. 2025) and their scenario presets.

A cost matrix C is a dense K x K float64 array, non-negative, with a zero diagonal: C[y, j] is the
cost of predicting class j for an example of true class y. Derived notions (Xin et al. 2025, the
cost-sensitive setting):

* the **sensitive target set** of class y is Omega_y = {j : C[y, j] > 0} (ascending order; the
  order only breaks ties for the worst target c_B, matching the reference's hard-coded lists);
* a **sensitive seed** is a class whose examples are evaluated with the cost-sensitive metrics
  (Rob_cs). By default these are the classes with a non-empty Omega_y; a matrix may name its seeds
  explicitly (the HAM10000 preset: only malignant = 0 is a seed, although the reverse error
  benign -> malignant also carries a small cost and counts in Rob_cost);
* **normal** classes are all the others.

Presets (``preset(name, dataset)``, the scenarios of Xin et al. 2025's experiments; names are case-insensitive and ``_``
may replace ``-``):

=============  ================  =============================================================
dataset        name              matrix
=============  ================  =============================================================
cifar10        s-seed            seed 3 (cat) -> every other class, cost 1
cifar10        m-seed            seeds 2 (bird), 4 (deer) -> every other class, cost 1
cifar10        s-pair / single   3 -> 5 (cat -> dog), cost 1
cifar10        m-pair / multi    3 -> {2, 4, 5}, cost 1
cifar10        multi2            3 -> {2, 4, 5, 7, 9} (the reference certify's extra list)
imagenette     s-pair / single   7 -> 2 (gas pump -> cassette player), cost 1
imagenette     m-pair / multi    7 -> {2, 4, 6}, cost 1
imagenette     s-seed            seed 7 -> every other class [inferred, see below]
ham10000       ham / default     0 (malignant) -> 1 (benign) cost 10; 1 -> 0 cost 1; seeds (0,)
=============  ================  =============================================================

The Imagenette seeds are those of the reference *certification* script; its Gaussian-CS
reweighting trainer uses seed 3 (single) and {3, 7} (multi) instead, and the paper's choice is not
known. The Imagenette ``s-seed`` preset (seed 7) is an inference, not a verified setting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CostMatrix",
    "from_config",
    "from_pairs",
    "overall",
    "preset",
    "preset_names",
    "to_config",
]


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """Dense K x K cost matrix (float64, non-negative, zero diagonal), K >= 2.

    Args:
        matrix: array-like K x K; C[y, j] = cost of predicting j when the true class is y.
        seeds: optional explicit sensitive seed classes (each must have a non-empty Omega_y);
            default: every class with at least one positive cost.
        name: free-text label (e.g. the preset name), carried into configs and reports.

    The stored array is a read-only copy.
    """

    matrix: np.ndarray
    seeds: tuple[int, ...] | None = None
    name: str = ""
    _targets: tuple[tuple[int, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            arr = np.array(self.matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"cost matrix must be a K x K array of numbers, got {self.matrix!r}") from None
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"cost matrix must be square (K x K), got shape {arr.shape}")
        if arr.shape[0] < 2:
            raise ValueError(f"cost matrix must have K >= 2 classes, got K = {arr.shape[0]}")
        if not np.isfinite(arr).all():
            raise ValueError("cost matrix entries must be finite (no NaN/inf)")
        if (arr < 0).any():
            bad = np.argwhere(arr < 0)[0]
            raise ValueError(f"cost matrix entries must be >= 0, got C[{bad[0]}, {bad[1]}] = {arr[tuple(bad)]}")
        diag = np.diagonal(arr)
        if (diag != 0).any():
            y = int(np.flatnonzero(diag != 0)[0])
            raise ValueError(
                f"cost matrix diagonal must be 0 (a correct prediction costs nothing), got C[{y}, {y}] = {diag[y]}"
            )
        arr.setflags(write=False)
        object.__setattr__(self, "matrix", arr)
        targets = tuple(tuple(int(j) for j in np.flatnonzero(arr[y] > 0)) for y in range(arr.shape[0]))
        object.__setattr__(self, "_targets", targets)
        if self.seeds is not None:
            if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Iterable):
                raise ValueError(f"seeds must be a sequence of class indices, got {self.seeds!r}")
            seeds = sorted({_check_int(s, "seeds entry") for s in self.seeds})
            for s in seeds:
                if not 0 <= s < arr.shape[0]:
                    raise ValueError(f"seeds must be class indices in [0, {arr.shape[0]}), got {s}")
                if not targets[s]:
                    raise ValueError(f"seed class {s} has no positive cost in its row (empty Omega_{s})")
            if not seeds:
                raise ValueError("seeds, when given, must name at least one class")
            object.__setattr__(self, "seeds", tuple(seeds))
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")

    # ------------------------------------------------------------------------------ queries
    @property
    def num_classes(self) -> int:
        """Number of classes K."""
        return int(self.matrix.shape[0])

    def _check_class(self, y: Any, name: str = "y") -> int:
        yi = _check_int(y, name)
        if not 0 <= yi < self.num_classes:
            raise ValueError(f"{name} must be a class index in [0, {self.num_classes}), got {y!r}")
        return yi

    def sensitive_targets(self, y: int) -> tuple[int, ...]:
        """Omega_y = {j : C[y, j] > 0} in ascending order (empty for a normal class)."""
        return self._targets[self._check_class(y)]

    def cost(self, y: int, j: int) -> float:
        """C[y, j]."""
        return float(self.matrix[self._check_class(y), self._check_class(j, "j")])

    @property
    def seed_classes(self) -> tuple[int, ...]:
        """Sensitive seed classes (explicit ``seeds``, else every class with a non-empty Omega_y)."""
        if self.seeds is not None:
            return self.seeds
        return tuple(y for y, t in enumerate(self._targets) if t)

    def is_seed(self, labels: Any) -> np.ndarray:
        """Boolean array: which of ``labels`` (class indices) are sensitive seeds."""
        arr = np.asarray(labels)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"labels must be integer class indices, got dtype {arr.dtype}")
        if arr.size and ((arr < 0) | (arr >= self.num_classes)).any():
            raise ValueError(f"labels must be class indices in [0, {self.num_classes}), got {np.unique(arr).tolist()}")
        return np.isin(arr, np.asarray(self.seed_classes, dtype=np.int64))

    def max_cost(self, y: int) -> float:
        """max_j C[y, j] (0 for a normal class)."""
        return float(self.matrix[self._check_class(y)].max())

    def padded(self, num_classes: int) -> "CostMatrix":
        """The same costs embedded in a larger K' x K' matrix (extra classes cost nothing)."""
        k = _check_int(num_classes, "num_classes")
        if k < self.num_classes:
            raise ValueError(f"num_classes must be >= {self.num_classes} to pad this cost matrix, got {k}")
        out = np.zeros((k, k))
        out[: self.num_classes, : self.num_classes] = self.matrix
        return CostMatrix(out, seeds=self.seeds, name=self.name)

    def __repr__(self) -> str:
        pairs = ", ".join(f"{y}->{j}:{self.matrix[y, j]:g}" for y, t in enumerate(self._targets) for j in t)
        seeds = f", seeds={self.seeds}" if self.seeds is not None else ""
        return f"CostMatrix(K={self.num_classes}, name={self.name!r}, pairs=[{pairs}]{seeds})"


# ------------------------------------------------------------------------------ builders
def from_pairs(
    num_classes: int, pairs: Iterable[Sequence[Any]], *, seeds: Sequence[int] | None = None, name: str = ""
) -> CostMatrix:
    """Cost matrix from ``(seed, target, cost)`` triples (``(seed, target)`` means cost 1).

    Every listed cost must be positive and finite, seed != target, both in [0, num_classes), and
    a (seed, target) pair may appear once. Unlisted entries are 0.
    """
    k = _check_int(num_classes, "num_classes")
    if k < 2:
        raise ValueError(f"num_classes must be >= 2, got {k}")
    out = np.zeros((k, k))
    seen: set[tuple[int, int]] = set()
    for item in pairs:
        if isinstance(item, Mapping):
            item = (item.get("seed"), item.get("target"), item.get("cost", 1.0))
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) not in (2, 3):
            raise ValueError(f"each pair must be (seed, target) or (seed, target, cost), got {item!r}")
        s = _check_int(item[0], "pair seed")
        t = _check_int(item[1], "pair target")
        c = item[2] if len(item) == 3 else 1.0
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, np.integer, np.floating)):
            raise ValueError(f"pair cost must be a number, got {item!r}")
        c = float(c)
        if not 0 <= s < k or not 0 <= t < k:
            raise ValueError(f"pair {item!r}: class indices must be in [0, {k})")
        if s == t:
            raise ValueError(f"pair {item!r}: seed and target must differ (the diagonal is 0)")
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"pair {item!r}: cost must be a positive finite number")
        if (s, t) in seen:
            raise ValueError(f"pair ({s}, {t}) listed twice")
        seen.add((s, t))
        out[s, t] = c
    if not seen:
        raise ValueError("pairs must contain at least one (seed, target, cost) entry")
    return CostMatrix(out, seeds=None if seeds is None else tuple(seeds), name=name)


def overall(num_classes: int) -> CostMatrix:
    """Every error costs 1: C = 1 - I (Xin's ``--certify overall``, Omega_y = all classes != y)."""
    k = _check_int(num_classes, "num_classes")
    if k < 2:
        raise ValueError(f"num_classes must be >= 2, got {k}")
    return CostMatrix(np.ones((k, k)) - np.eye(k), name="overall")


def _seed_rows(k: int, seeds: Sequence[int]) -> list[tuple[int, int, float]]:
    return [(s, t, 1.0) for s in seeds for t in range(k) if t != s]


_DATASETS = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "imagenette": "imagenette",
    "imagenette2-160": "imagenette",
    "imagenette2": "imagenette",
    "ham": "ham10000",
    "ham10000": "ham10000",
    "ham10k": "ham10000",
}

# (dataset, preset) -> (K, pairs, seeds); aliases resolved in preset().
_PRESETS: dict[tuple[str, str], tuple[int, list[tuple[int, int, float]], tuple[int, ...] | None]] = {
    ("cifar10", "s-seed"): (10, _seed_rows(10, [3]), None),
    ("cifar10", "m-seed"): (10, _seed_rows(10, [2, 4]), None),
    ("cifar10", "s-pair"): (10, [(3, 5, 1.0)], None),
    ("cifar10", "m-pair"): (10, [(3, 2, 1.0), (3, 4, 1.0), (3, 5, 1.0)], None),
    ("cifar10", "multi2"): (10, [(3, t, 1.0) for t in (2, 4, 5, 7, 9)], None),
    ("imagenette", "s-pair"): (10, [(7, 2, 1.0)], None),
    ("imagenette", "m-pair"): (10, [(7, 2, 1.0), (7, 4, 1.0), (7, 6, 1.0)], None),
    ("imagenette", "s-seed"): (10, _seed_rows(10, [7]), None),
    ("ham10000", "ham"): (2, [(0, 1, 10.0), (1, 0, 1.0)], (0,)),
}
_ALIASES = {
    "single": "s-pair",
    "multi": "m-pair",
    "sseed": "s-seed",
    "mseed": "m-seed",
    "spair": "s-pair",
    "mpair": "m-pair",
    "default": "ham",
    "ham10000": "ham",
}


def preset_names() -> tuple[str, ...]:
    """Every ``dataset/name`` preset key."""
    return tuple(f"{d}/{n}" for d, n in _PRESETS)


def preset(name: str, dataset: str, *, num_classes: int | None = None) -> CostMatrix:
    """Scenario cost matrix of Xin et al. (2025) (table in the module docstring).

    ``num_classes`` pads the matrix to a larger model output (extra classes cost nothing).
    """
    if not isinstance(name, str) or not isinstance(dataset, str):
        raise ValueError(f"preset name and dataset must be strings, got {name!r}, {dataset!r}")
    ds = _DATASETS.get(dataset.strip().lower())
    if ds is None:
        raise ValueError(f"unknown cost-preset dataset {dataset!r}; expected one of {sorted(set(_DATASETS))}")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if ds == "ham10000" and key in ("s-seed", "s-pair"):
        key = "ham"
    if (ds, key) not in _PRESETS:
        names = sorted(n for d, n in _PRESETS if d == ds)
        raise ValueError(f"unknown cost preset {name!r} for dataset {ds!r}; expected one of {names}")
    k, pairs, seeds = _PRESETS[(ds, key)]
    cm = from_pairs(k, pairs, seeds=seeds, name=f"{ds}/{key}")
    return cm if num_classes is None else cm.padded(num_classes)


# ------------------------------------------------------------------------------- configs
def from_config(config: Any) -> CostMatrix:
    """Build a cost matrix from a config value.

    Accepted forms:
      * ``{"preset": NAME, "dataset": DATASET[, "num_classes": K]}``;
      * ``{"num_classes": K, "pairs": [[seed, target, cost], ...][, "seeds": [...]][, "name": ...]}``
        (pairs may also be ``{"seed":, "target":, "cost":}`` mappings; cost defaults to 1);
      * ``{"matrix": [[...], ...][, "seeds": [...]][, "name": ...]}``;
      * a dense list of lists (the matrix itself).
    """
    if isinstance(config, CostMatrix):
        return config
    if isinstance(config, Mapping):
        known = {"preset", "dataset", "num_classes", "pairs", "matrix", "seeds", "name"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"cost config has unknown key(s) {unknown}; expected some of {sorted(known)}")
        seeds = config.get("seeds")
        name = config.get("name", "")
        if "preset" in config:
            if "dataset" not in config:
                raise ValueError("cost config with 'preset' needs a 'dataset' key")
            cm = preset(config["preset"], config["dataset"], num_classes=config.get("num_classes"))
            return cm if seeds is None else CostMatrix(cm.matrix, seeds=tuple(seeds), name=cm.name)
        if "matrix" in config:
            cm = CostMatrix(config["matrix"], seeds=None if seeds is None else tuple(seeds), name=name)
            if "num_classes" in config and config["num_classes"] != cm.num_classes:
                raise ValueError(
                    f"cost config num_classes={config['num_classes']} but the matrix is "
                    f"{cm.num_classes} x {cm.num_classes}"
                )
            return cm
        if "pairs" in config:
            if "num_classes" not in config:
                raise ValueError("cost config with 'pairs' needs a 'num_classes' key")
            return from_pairs(config["num_classes"], config["pairs"], seeds=seeds, name=name)
        raise ValueError("cost config must contain one of the keys 'preset', 'pairs' or 'matrix'")
    if isinstance(config, Sequence) and not isinstance(config, (str, bytes)):
        return CostMatrix(config)
    raise ValueError(f"cost config must be a mapping or a dense list of lists, got {type(config).__name__}")


def to_config(cost_matrix: CostMatrix, *, dense: bool = False) -> dict[str, Any]:
    """Plain-Python config of ``cost_matrix`` (round-trips through :func:`from_config`).

    Sparse form ``{"num_classes", "pairs": [[seed, target, cost], ...]}`` (ascending seed, target)
    by default; ``dense=True`` gives ``{"matrix": [[...]]}``. Explicit seeds and the name are kept.
    """
    cm = cost_matrix
    out: dict[str, Any] = {}
    if cm.name:
        out["name"] = cm.name
    if dense:
        out["matrix"] = cm.matrix.tolist()
    else:
        out["num_classes"] = cm.num_classes
        out["pairs"] = [[y, j, float(cm.matrix[y, j])] for y in range(cm.num_classes) for j in cm.sensitive_targets(y)]
    if cm.seeds is not None:
        out["seeds"] = list(cm.seeds)
    return out
