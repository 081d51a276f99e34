"""The run settings of a count table and its row record (see :mod:`randsmooth.counts`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from .. import __version__
from ..train_config import NOISE_SPACES
from .spec import RUN_DEFAULTS, sequential_settings

SCHEMA_VERSION = "1"
# Noise RNG schemes of the engine (randsmooth.engine): block-v1 = one seeded torch.Generator per
# noise block; philox-v1 = counter-based noise for Gaussian/Laplace/uniform (block-v1 otherwise).
RNG_SCHEMES: tuple[str, ...] = ("block-v1", "philox-v1")
LEGACY_RNG = "block-v1"  # settings without an ``rng`` entry were written with this scheme
DEFAULT_RNG: str = RUN_DEFAULTS["rng"]
META_SCHEMA = b"randsmooth.schema"
META_SETTINGS = b"randsmooth.settings"

ARROW_SCHEMA = pa.schema(
    [
        ("idx", pa.int64()),
        ("label", pa.int64()),
        ("num_classes", pa.int32()),
        ("counts_selection", pa.list_(pa.int64())),
        ("counts_estimation", pa.list_(pa.int64())),
        ("prefix_budgets", pa.list_(pa.int64())),
        ("counts_prefix", pa.list_(pa.list_(pa.int64()))),
        ("n0", pa.int64()),
        ("n", pa.int64()),
        ("noise", pa.string()),
        ("noise_params", pa.string()),
        ("sigma", pa.float64()),
        ("dim", pa.int64()),
        ("seed", pa.int64()),
        ("noise_block", pa.int64()),
        ("model_id", pa.string()),
        ("time_s", pa.float64()),
        ("version", pa.string()),
    ]
)

# Settings that every shard of one merged table must share (the run's scientific identity).
CONSISTENCY_FIELDS: tuple[str, ...] = (
    "model_id",
    "dataset",
    "dataset_options",
    "split",
    "noise",
    "noise_params",
    "sigma",
    "dim",
    "num_classes",
    "n0",
    "n",
    "seed",
    "noise_block",
    "prefix_budgets",
    "autocast",
    "rng",
    "noise_space",
    "sequential",
)
# Settings a resumed run must share with its progress file, so that resumed counts are identical
# to an uninterrupted run (device type and torch version determine the random streams).
RESUME_FIELDS: tuple[str, ...] = CONSISTENCY_FIELDS + (
    "start",
    "stop",
    "skip",
    "shard",
    "num_shards",
    "device_type",
    "torch_version",
)


def default_prefix_budgets(n: int) -> tuple[int, ...]:
    """Prefix budgets 10^2, 10^3, ... strictly below ``n``, followed by ``n`` itself."""
    budgets = []
    b = 100
    while b < n:
        budgets.append(b)
        b *= 10
    return tuple(budgets) + (int(n),)


INT64_MAX = 2**63 - 1


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is an integer (not a bool) >= ``minimum`` that the count table's
    int64 columns hold (< 2^63), else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > INT64_MAX:
        raise ValueError(f"{name} must be an integer <= 2^63 - 1 (the count table's int64), got {value!r}")
    return int(value)


def noise_params_json(params: dict[str, Any]) -> str:
    """Canonical JSON text of noise parameters (sorted keys), as stored in ``noise_params``."""
    return json.dumps(params, sort_keys=True)


@dataclass(frozen=True)
class RunSettings:
    """Everything that produced a shard; stored as JSON in the Parquet metadata.

    ``dataset_options`` and ``noise_params`` are plain dicts; ``prefix_budgets`` a sorted list
    ending with ``n``. ``device`` is the resolved torch device string ("cpu", "cuda:0", ...).
    ``merged_from`` lists the shards a merged table was built from (None for a shard). ``rng`` is
    the noise RNG scheme (one of :data:`RNG_SCHEMES`); ``fast`` and ``compile`` the engine modes.
    ``noise_space`` says where the noise was added (:mod:`randsmooth.models.noise_space`): "pixel"
    (before the model's Normalize; sigma and radii in [0, 1] pixel units) or "normalized" (after
    it; sigma and radii in normalised units). Tables written before it was recorded read as "pixel".
    ``sequential`` (None: fixed N; tables written before it was recorded) is the stopping rule's
    settings (:func:`randsmooth.counts.spec.sequential_settings`): each row then holds the
    checkpoints it reached (``prefix_budgets``, a prefix of the settings' ones, which are the rule's
    checkpoints; the last is the samples used) and its counts there.
    """

    checkpoint: str
    model_id: str
    dataset: str
    split: str
    noise: str
    sigma: float
    dim: int
    num_classes: int
    n0: int
    n: int
    start: int
    stop: int
    skip: int = RUN_DEFAULTS["skip"]
    shard: int = 0
    num_shards: int = RUN_DEFAULTS["num_shards"]
    seed: int = RUN_DEFAULTS["seed"]
    noise_block: int = RUN_DEFAULTS["noise_block"]
    batch: int = RUN_DEFAULTS["batch"]
    device: str = "cpu"
    autocast: bool = RUN_DEFAULTS["autocast"]
    channels_last: bool = RUN_DEFAULTS["channels_last"]
    rng: str = DEFAULT_RNG
    fast: bool = RUN_DEFAULTS["fast"]
    compile: bool = RUN_DEFAULTS["compile"]
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    noise_params: dict[str, Any] = field(default_factory=dict)
    prefix_budgets: list[int] = field(default_factory=list)
    torch_version: str = ""
    version: str = __version__
    merged_from: list[dict[str, Any]] | None = None
    noise_space: str = RUN_DEFAULTS["noise_space"]
    sequential: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.sequential is not None:
            # tables sampled before spend_power was recorded spent alpha equally (power 0)
            recorded = {"spend_power": 0.0, **self.sequential} if "max_n" in self.sequential else self.sequential
            object.__setattr__(self, "sequential", sequential_settings(recorded))
            if self.sequential["max_n"] != self.n:
                raise ValueError(f"sequential.max_n {self.sequential['max_n']} must equal n {self.n}")
        if self.noise_space not in NOISE_SPACES:
            raise ValueError(f"noise_space must be one of {list(NOISE_SPACES)}, got {self.noise_space!r}")
        for name, minimum in (
            ("dim", 1),
            ("num_classes", 1),
            ("n0", 1),
            ("n", 1),
            ("start", 0),
            ("stop", 0),
            ("skip", 1),
            ("shard", 0),
            ("num_shards", 1),
            ("seed", 0),
            ("noise_block", 1),
            ("batch", 1),
        ):
            check_int(name, getattr(self, name), minimum)
        if self.stop < self.start:
            raise ValueError(f"stop must be >= start, got start={self.start}, stop={self.stop}")
        if self.rng not in RNG_SCHEMES:
            raise ValueError(f"rng must be one of {RNG_SCHEMES}, got {self.rng!r}")
        if self.shard >= self.num_shards:
            raise ValueError(f"shard must be in [0, num_shards={self.num_shards}), got {self.shard}")
        if not isinstance(self.sigma, (int, float)) or isinstance(self.sigma, bool) or not self.sigma > 0:
            raise ValueError(f"sigma must be a positive number, got {self.sigma!r}")
        budgets = list(self.prefix_budgets) or list(default_prefix_budgets(self.n))
        if (
            any(check_int("prefix_budgets entry", b, 1) > self.n for b in budgets)
            or budgets != sorted(set(budgets))
            or budgets[-1] != self.n
        ):
            raise ValueError(
                f"prefix_budgets must be strictly increasing, <= n and end with n={self.n}, got {self.prefix_budgets!r}"
            )
        object.__setattr__(self, "prefix_budgets", [int(b) for b in budgets])
        object.__setattr__(self, "sigma", float(self.sigma))

    # ---------------------------------------------------------------------- index sets
    def subset(self) -> range:
        """The declared subset ``range(start, stop, skip)`` shared by all shards of a run."""
        return range(self.start, self.stop, self.skip)

    def expected_indices(self) -> range:
        """This shard's indices: ``subset()[shard::num_shards]``."""
        return self.subset()[self.shard :: self.num_shards]

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    # ---------------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "RunSettings":
        """Build from a dict read from ``source`` (a file name used in error messages)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: run settings must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown run settings {unknown}")
        data = {"rng": LEGACY_RNG, **data}  # written before the scheme was recorded
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid run settings: {exc}") from None

    def row_constants(self) -> dict[str, Any]:
        """The per-row columns that are constant over a run."""
        return {
            "n0": self.n0,
            "n": self.n,
            "noise": self.noise,
            "noise_params": noise_params_json(self.noise_params),
            "sigma": self.sigma,
            "dim": self.dim,
            "seed": self.seed,
            "noise_block": self.noise_block,
            "model_id": self.model_id,
            "version": self.version,
        }

    def differences(self, other: "RunSettings", fields: Sequence[str]) -> list[str]:
        """Human-readable ``"name: mine != other"`` for every listed field that differs."""
        out = []
        for name in fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name} {mine!r} != {theirs!r}")
        return out


@dataclass(frozen=True)
class ExampleRecord:
    """The sampled counts of one example (one table row without the run constants).

    ``counts_selection`` and ``counts_estimation`` are int64 arrays of length K,
    ``prefix_budgets`` int64 of length B, ``counts_prefix`` int64 of shape (B, K) (cumulative),
    ``time_s`` wall-clock seconds for this example.
    """

    idx: int
    label: int
    counts_selection: np.ndarray
    counts_estimation: np.ndarray
    prefix_budgets: np.ndarray
    counts_prefix: np.ndarray
    time_s: float

    def check(self, settings: RunSettings, source: str) -> None:
        """Raise ``ValueError`` (naming ``source``) unless the record is consistent with ``settings``."""
        k, budgets = settings.num_classes, np.asarray(settings.prefix_budgets, dtype=np.int64)
        where = f"{source}: index {self.idx}"
        sel, est, pre = self.counts_selection, self.counts_estimation, self.counts_prefix
        n = settings.n
        if settings.sequential is not None:  # stopped at a checkpoint: the budgets reached
            reached = np.asarray(self.prefix_budgets).reshape(-1)
            if not 1 <= reached.size <= budgets.size or not np.array_equal(reached, budgets[: reached.size]):
                raise ValueError(f"{where}: checkpoints reached {reached.tolist()[:5]} are not a prefix of the rule's")
            budgets, n = budgets[: reached.size], int(reached[-1])
        if sel.shape != (k,) or est.shape != (k,) or pre.shape != (len(budgets), k):
            raise ValueError(
                f"{where}: count shapes {sel.shape}, {est.shape}, {pre.shape} do not match "
                f"num_classes={k} and {len(budgets)} prefix budgets"
            )
        if not np.array_equal(self.prefix_budgets, budgets):
            raise ValueError(f"{where}: prefix_budgets {self.prefix_budgets.tolist()} != {budgets.tolist()}")
        if (sel < 0).any() or (est < 0).any() or (pre < 0).any():
            raise ValueError(f"{where}: negative class counts")
        if sel.sum() != settings.n0 or est.sum() != n:
            raise ValueError(
                f"{where}: selection counts must sum to n0={settings.n0} and estimation "
                f"counts to n={n}, got {sel.sum()} and {est.sum()}"
            )
        if (
            not np.array_equal(pre.sum(axis=1), budgets)
            or not np.array_equal(pre[-1], est)
            or (np.diff(pre, axis=0) < 0).any()
        ):
            raise ValueError(
                f"{where}: counts_prefix is not cumulative with row sums {budgets.tolist()} ending in counts_estimation"
            )
        if not 0 <= self.label < k:
            raise ValueError(f"{where}: label {self.label} outside [0, {k})")

    def to_json(self) -> str:
        return json.dumps(
            {
                "idx": int(self.idx),
                "label": int(self.label),
                "counts_selection": self.counts_selection.tolist(),
                "counts_estimation": self.counts_estimation.tolist(),
                "counts_prefix": self.counts_prefix.tolist(),
                "time_s": float(self.time_s),
            }
        )  # the budgets are the settings' (their first len(counts_prefix) in a sequential run)

    @classmethod
    def from_json(cls, text: str, settings: RunSettings, source: str) -> "ExampleRecord":
        data = json.loads(text)
        try:
            return cls(
                idx=int(data["idx"]),
                label=int(data["label"]),
                counts_selection=np.asarray(data["counts_selection"], dtype=np.int64),
                counts_estimation=np.asarray(data["counts_estimation"], dtype=np.int64),
                prefix_budgets=np.asarray(settings.prefix_budgets, dtype=np.int64)[: len(data["counts_prefix"])],
                counts_prefix=np.asarray(data["counts_prefix"], dtype=np.int64),
                time_s=float(data["time_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: malformed row ({exc})") from None
