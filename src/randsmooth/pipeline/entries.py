"""The entries of a plan: data sets, models, certification runs, metrics variants, table rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: ``key`` = content key of (name, options, seed); ``root`` its folder."""

    key: str
    name: str
    root: str
    options: dict[str, Any]
    seed: int | None
    download: bool

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options, "seed": self.seed}

    def loader_options(self) -> dict[str, Any]:
        """Options of :func:`randsmooth.data.load_dataset` (the split seed included)."""
        return {**self.options, **({} if self.seed is None else {"seed": self.seed})}


@dataclass(frozen=True)
class SoftTargets:
    """What a model's soft-target file is made of: a smoothed teacher on the training set
    (CAT-RS; Sun et al.'s teacher-based discarding), ``samples`` noise draws per image, ``seed``."""

    teacher_key: str
    samples: int
    seed: int


@dataclass(frozen=True)
class ModelEntry:
    """One base classifier: trained from ``train_config`` or imported from ``checkpoint``."""

    key: str
    dataset: DatasetEntry
    arch: str | None
    method: dict[str, Any]
    noise: str
    noise_params: dict[str, Any]
    sigma: float
    train_config: dict[str, Any] | None
    checkpoint: str | None
    soft_targets: SoftTargets | None = None
    noise_space: str = "pixel"
    pretrained: str | None = None  # key of the model whose network this one starts from

    @property
    def trained(self) -> bool:
        return self.checkpoint is None


@dataclass(frozen=True)
class RunEntry:
    """One certification run: the sampling half of CERTIFY (class counts; no alpha)."""

    key: str
    model_key: str
    dataset: DatasetEntry
    noise: str
    noise_params: dict[str, Any]
    sigma: float
    n0: int
    n: int
    split: str
    start: int
    stop: int | None
    skip: int
    shards: int
    seed: int
    batch: int
    noise_block: int
    rng: str = "philox-v1"
    fast: bool = False
    compile: bool = False
    noise_space: str = "pixel"

    def num_examples(self) -> int | None:
        """Size of the subset, or None when ``stop`` is the (unknown) split size."""
        return None if self.stop is None else len(range(self.start, self.stop, self.skip))

    def identity(self) -> dict[str, Any]:
        """Everything that determines the counts (the batch size and the engine's modes do not). The
        default noise space (pixel, recorded since it became an option) is left out, so run folders
        keep their keys."""
        out = {k: v for k, v in vars(self).items() if k not in ("key", "batch", "dataset", "fast", "compile")}
        out["dataset"] = self.dataset.key
        if out["noise_space"] == "pixel":
            del out["noise_space"]
        return out


@dataclass(frozen=True)
class Variant:
    """One metrics computation on one run: the fields of :class:`randsmooth.evaluate.MetricsSpec`."""

    key: str
    run_key: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class TableEntry:
    """One row group of a paper table: a certification run read by one variant."""

    paper: str
    table: str
    label: str
    group: str
    run_name: str
    model_name: str
    variant: Variant
