"""The entries of a plan: data sets, models, certification runs, metrics variants, table rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..counts.spec import RunSpec


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
    """One certification run: the sampling half of CERTIFY (class counts; no alpha).

    ``spec`` holds every sampling setting (:class:`randsmooth.counts.RunSpec`, the content of
    ``run.json``): its ``model`` is the model's key, its ``dataset_options`` the loader options of
    ``dataset``. The settings read as attributes of the entry (``run.n``, ``run.sigma``, ...).
    """

    key: str
    dataset: DatasetEntry
    spec: RunSpec

    def __getattr__(self, name: str) -> Any:
        if name in _SPEC_NAMES:
            return getattr(self.spec, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def model_key(self) -> str:
        return self.spec.model

    @property
    def shards(self) -> int:
        return self.spec.num_shards

    def num_examples(self) -> int | None:
        """Size of the subset, or None when ``stop`` is the (unknown) split size."""
        return None if self.stop is None else len(range(self.start, self.stop, self.skip))

    def identity(self) -> dict[str, Any]:
        """Everything that determines the counts: the data and noise settings, the model's and the
        data set's keys (the batch size and the engine's modes do not). The default noise space
        (pixel, recorded since it became an option) and fixed N (``sequential`` None) are left out,
        so run folders keep their keys."""
        names = [n for n in RunSpec.names("data", "noise") if n not in ("dataset", "dataset_options", "num_shards")]
        out = {name: getattr(self.spec, name) for name in names}
        out.update(model_key=self.spec.model, shards=self.spec.num_shards, dataset=self.dataset.key)
        if out["noise_space"] == "pixel":
            del out["noise_space"]
        if out["sequential"] is None:  # fixed N (the default, recorded since sequential runs exist)
            del out["sequential"]
        return out


_SPEC_NAMES = frozenset(RunSpec.names()) - {"model", "num_shards", "dataset"}


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
