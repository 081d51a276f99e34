"""The runs of a paper table, read from the workflow's ``tables.json``, with their decisions.

:func:`load_spec` reads one paper's ``tables.json`` (:func:`randsmooth.pipeline.commands.paper_tables_json`);
a :class:`TableData` holds one config table: how to read the counts (alpha, sidedness, norm,
radii, cost matrices, options) and its runs (:class:`RunInfo`, config names and settings). The
decisions are computed from the merged counts by :mod:`randsmooth.decide` and cached per process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import decide, metrics
from ..counts import read_table
from ..evaluate import NOISE_SPACE_NOTES, first_examples
from .catalog import scale_text

METHOD_LABELS = {
    "gaussian": "Gaussian",
    "stability": "Stability",
    "smoothadv": "SmoothAdv",
    "macer": "MACER",
    "consistency": "Consistency",
    "smoothmix": "SmoothMix",
    "catrs": "CAT-RS",
    "sun2025": "Sun et al.",
    "acr_discard": "Discard",
    "acr_reweight": "Reweight",
    "acr_adaptive_attack": "AdaptiveAdv",
    "gaussian_cs": "Gaussian-CS",
    "smoothadv_cs": "SmoothAdv-CS",
    "smoothmix_cs": "SmoothMix-CS",
    "margin_cs": "Margin-CS",
}
NOISE_LABELS = {
    "gaussian": "Gaussian",
    "uniform": "Uniform",
    "laplace": "Laplace",
    "pareto": "Pareto",
    "expp": "Exp-p",
    "uniform_ball": "Uniform ball",
    "exp1": "Exp-l1",
    "expinf": "Exp-linf",
    "powinf": "Pow-linf",
    "exp2": "Exp-l2",
    "pow2": "Pow-l2",
}
NORM_LABELS = {"l1": "ℓ1", "l2": "ℓ2", "linf": "ℓ∞"}


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def noise_label(noise: str, params: dict[str, Any] | None = None) -> str:
    extra = ", ".join(
        f"{k} = {v:g}" if isinstance(v, (int, float)) else f"{k} = {v}" for k, v in (params or {}).items()
    )
    return NOISE_LABELS.get(noise, noise) + (f" ({extra})" if extra else "")


def group_label(noise: str, method: str) -> str:
    """Noise family and training method as one legend name: "Uniform", "Uniform + Stability",
    "Stability" (Gaussian noise implied when the method is not plain noise augmentation)."""
    if method == "gaussian":
        return noise_label(noise)
    return method_label(method) if noise == "gaussian" else f"{noise_label(noise)} + {method_label(method)}"


@dataclass(frozen=True)
class RunInfo:
    """One certification run of a table, by its config names (see ``run_info`` in the pipeline)."""

    run: str
    model: str
    dataset: str
    dim: int
    arch: str | None
    method: str
    method_params: dict[str, Any]
    train_noise: str
    train_sigma: float
    noise: str
    noise_params: dict[str, Any]
    sigma: float
    n0: int
    n: int
    examples: str
    num_examples: int | None
    counts: str
    run_dir: str
    stem: str = ""

    @property
    def matched(self) -> bool:
        """Certified with the noise it was trained with (same family and sigma)."""
        return self.train_noise == self.noise and self.train_sigma == self.sigma

    @property
    def group(self) -> str:
        """Yang et al.'s envelope group: noise family, plus the method unless plain augmentation."""
        return self.noise if self.method == "gaussian" else f"{self.noise}+{self.method}"

    @property
    def label(self) -> str:
        """Legend / row name: method (and noise) with sigma, plus the training noise if different."""
        text = f"{group_label(self.noise, self.method)}, σ = {self.sigma:g}"
        if self.train_noise != self.noise:
            text += f" (trained with {noise_label(self.train_noise)} σ = {self.train_sigma:g})"
        elif self.train_sigma != self.sigma:
            text += f" (trained at σ = {self.train_sigma:g})"
        return text


@dataclass
class TableData:
    """One config table of a paper: reading settings, options and runs."""

    paper: str
    name: str
    title: str
    description: str
    dataset: str
    norm: str
    alpha: float
    two_sided: bool
    radii: list[float]
    budgets: list[int | None]
    costs: list[dict[str, Any]]
    options: dict[str, Any]
    artifacts: list[str]
    runs: list[RunInfo] = field(default_factory=list)
    first_examples: int | None = None  # read only the first N examples (by index) of each run
    noise_space: str = "pixel"  # where the noise was added: sigma and radii in pixel or normalised units
    scale: dict[str, Any] | None = None  # {paper_dataset, factor}: this table's sigma = factor x the paper's

    def scale_line(self, runs: Sequence[RunInfo] | None = None) -> str:
        """The scale rule of a reduced reproduction (config key ``scale``), with the sigmas of
        ``runs`` mapped back to the paper's, e.g. "scaled from CIFAR-10 by k = 0.5 (sigma, attack
        epsilon and radii): paper σ 0.25, 0.5 <-> digits σ 0.125, 0.25"; "" without a scale."""
        if not self.scale:
            return ""
        return scale_text(self.scale, self.dataset, [r.sigma for r in (self.runs if runs is None else runs)])

    def labels(self, runs: Sequence[RunInfo] | None = None) -> dict[str, str]:
        """Run name -> legend label; N and n0 are added where the runs differ in them, the run name
        where two runs still look alike."""
        runs = self.runs if runs is None else runs
        plain = {}
        for r in runs:
            text = r.label
            for name, attr in (("N", "n"), ("n0", "n0")):
                if len({getattr(x, attr) for x in runs}) > 1:
                    text += f", {name} = {getattr(r, attr):,}"
            plain[r.run] = text
        texts = list(plain.values())
        return {run: (text if texts.count(text) == 1 else f"{text} [{run}]") for run, text in plain.items()}

    def counts(self, run: RunInfo) -> pd.DataFrame:
        """The run's merged count table (its first ``first_examples`` examples if the table says so)."""
        return first_examples(_read_counts(*_file_key(run.counts)), self.first_examples)

    def certify(
        self, run: RunInfo, *, norm: str | None = None, budget: int | None = None, alpha: float | None = None
    ) -> pd.DataFrame:
        """CERTIFY's per-example decisions (:func:`randsmooth.decide.certify`) at the table's alpha,
        sidedness and norm unless overridden."""
        norm = norm or self.norm
        alpha = self.alpha if alpha is None else alpha
        key = (_file_key(run.counts), self.first_examples, norm, budget, alpha, self.two_sided)
        if key not in _DECISIONS:
            table = self.counts(run)
            _DECISIONS[key] = decide.certify(table, alpha, norm=norm, budget=budget, two_sided=self.two_sided)
        return _DECISIONS[key]

    def certified_accuracy(self, run: RunInfo, radii: Sequence[float], *, norm: str | None = None) -> np.ndarray:
        return np.atleast_1d(metrics.certified_accuracy(self.certify(run, norm=norm), list(radii)))

    def settings_line(self, runs: Sequence[RunInfo] | None = None) -> str:
        """What holds for every row: error level, sidedness, norm, data set, and N, n0 and the
        number of test points where the runs share them (the row labels name N and n0 otherwise)."""
        runs = self.runs if runs is None else runs
        parts = [
            f"α = {self.alpha:g} ({'two' if self.two_sided else 'one'}-sided Clopper-Pearson)",
            f"{NORM_LABELS.get(self.norm, self.norm)} radii",
            f"data set {self.dataset}",
        ]
        for name, values in (("N", {r.n for r in runs}), ("n0", {r.n0 for r in runs})):
            parts.append(f"{name} = {next(iter(values)):,}" if len(values) == 1 else f"{name} per row")
        points = {r.num_examples for r in runs}
        if self.first_examples is not None:
            parts.append(f"the first {self.first_examples:,} test points of each run")
        elif len(points) == 1 and None not in points:
            parts.append(f"{next(iter(points)):,} test points")
        else:
            parts.append("test points per run: see the README")
        if self.noise_space != "pixel":
            parts.append(NOISE_SPACE_NOTES[self.noise_space])
        if self.scale:
            parts.append(self.scale_line(runs))
        return "; ".join(parts)


@dataclass
class PaperSpec:
    paper: str
    title: str
    tables: list[TableData]
    published_logs: dict[str, Any] | None


_DECISIONS: dict[tuple[Any, ...], pd.DataFrame] = {}


def _file_key(path: str) -> tuple[str, int, int]:
    """The path with its modification time and size: a rewritten count table is read again."""
    stat = Path(path).stat()
    return path, stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=64)
def _read_counts(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    return read_table(path)


def load_spec(path: str | Path, paper: str | None = None) -> PaperSpec:
    """Read a ``tables.json``; ``paper`` selects one paper when the file holds several."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    papers = data.get("papers") or {}
    if paper is None:
        if len(papers) != 1:
            raise ValueError(f"{path}: holds papers {sorted(papers)}; name one")
        paper = next(iter(papers))
    if paper not in papers:
        raise ValueError(f"{path}: no paper {paper!r}; it holds {sorted(papers)}")
    tables = [_table(t) for t in data["tables"] if t["paper"] == paper]
    return PaperSpec(paper, papers[paper]["title"], tables, papers[paper].get("published_logs"))


def _table(raw: dict[str, Any]) -> TableData:
    runs = [RunInfo(**run, stem=stem) for run, stem in zip(raw["runs"], raw["stems"], strict=True)]
    return TableData(
        paper=raw["paper"],
        name=raw["table"],
        title=raw["title"],
        description=raw.get("description", ""),
        dataset=raw["dataset"],
        norm=raw["norm"],
        alpha=float(raw["alpha"]),
        two_sided=bool(raw["two_sided"]),
        radii=[float(r) for r in raw["radii"]],
        budgets=list(raw["budgets"]),
        costs=list(raw["costs"]),
        options=dict(raw["options"]),
        artifacts=list(raw["artifacts"]),
        runs=runs,
        first_examples=raw.get("first_examples"),
        noise_space=raw.get("noise_space", "pixel"),
        scale=raw.get("scale"),
    )
