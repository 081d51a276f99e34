"""The runs of a paper table, read from the workflow's ``tables.json``, with their decisions.

:func:`load_spec` reads one paper's ``tables.json`` (:func:`randsmooth.pipeline.commands.paper_tables_json`);
a :class:`TableData` holds one config table: how to read the counts (alpha, sidedness, norm,
radii, cost matrices, options) and its runs (:class:`RunInfo`, config names and settings). The
decisions at the table's reading are its metrics variants' per-example files (computed once, by the
``metrics`` job); other readings are computed from the merged counts by :mod:`randsmooth.decide` and
cached per process.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import chance, decide, metrics
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
# Facets of a figure with more lines than a panel takes (randsmooth.papers.figures.facets): Gaussian
# noise augmentation is the baseline drawn in every facet, the other trainers go by family.
BASELINE_METHOD = "gaussian"
METHOD_FAMILIES = {
    "stability": "regularised training",
    "macer": "regularised training",
    "consistency": "regularised training",
    "smoothadv": "adversarial training",
    "smoothmix": "adversarial training",
    "catrs": "adversarial training",
    "sun2025": "Sun et al.'s strategies",
    "acr_discard": "Sun et al.'s strategies",
    "acr_reweight": "Sun et al.'s strategies",
    "acr_adaptive_attack": "Sun et al.'s strategies",
    "gaussian_cs": "cost-sensitive training",
    "smoothadv_cs": "cost-sensitive training",
    "smoothmix_cs": "cost-sensitive training",
    "margin_cs": "cost-sensitive training",
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
DEGENERATE_MARK = " (degenerate)"  # appended to the row / legend label of a degenerate run
DECISION_COLUMNS = ("idx", "label", "predict", "radius", "correct", "p_lower", "n_a")  # of decide.certify


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
    sequential: dict[str, Any] | None = None  # the stopping rule's settings (None: fixed N)

    def cell_keys(self, metric: str, **extra: Any) -> dict[str, Any]:
        """The keys of a table cell of this run (method, sigma, N, metric and e.g. the radius),
        which match it to its published value (:mod:`randsmooth.papers.published`)."""
        return {"method": self.method, "sigma": self.sigma, "n": self.n, "metric": metric, **extra}

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
    decisions: dict[str, dict[str, str]] = field(default_factory=dict)  # run -> budget -> per-example file
    _reads: set[str] | None = field(default=None, repr=False, compare=False)  # see reads()
    scale: dict[str, Any] | None = None  # {paper_dataset, factor}: this table's sigma = factor x the paper's
    pairs: list[list[str]] = field(default_factory=list)  # [sequential run, its fixed-N twin] (samples artifacts)

    def scale_line(self, runs: Sequence[RunInfo] | None = None) -> str:
        """The scale rule of a reduced reproduction (config key ``scale``), with the sigmas of
        ``runs`` mapped back to the paper's, e.g. "scaled from CIFAR-10 by k = 0.5 (sigma, attack
        epsilon and radii): paper σ 0.25, 0.5 <-> digits σ 0.125, 0.25"; "" without a scale."""
        if not self.scale:
            return ""
        return scale_text(self.scale, self.dataset, [r.sigma for r in (self.runs if runs is None else runs)])

    def labels(self, runs: Sequence[RunInfo] | None = None) -> dict[str, str]:
        """Run name -> legend label; N and n0 are added where the runs differ in them, the run name
        where two runs still look alike; a degenerate run's label ends with :data:`DEGENERATE_MARK`."""
        runs = self.runs if runs is None else runs
        plain = {}
        for r in runs:
            text = r.label
            for name, attr in (("N", "n"), ("n0", "n0")):
                if len({getattr(x, attr) for x in runs}) > 1:
                    text += f", {name} = {getattr(r, attr):,}"
            plain[r.run] = text
        texts = list(plain.values())
        unique = {run: (text if texts.count(text) == 1 else f"{text} [{run}]") for run, text in plain.items()}
        return {r.run: unique[r.run] + (DEGENERATE_MARK if self.degenerate(r) else "") for r in runs}

    @contextlib.contextmanager
    def reads(self) -> Iterator[set[str]]:
        """The names of the runs whose counts or decisions are read inside the block (a claim's
        runs, :mod:`.claims`); :meth:`degenerate` and :meth:`labels` do not count as reading."""
        self._reads = found = set()
        try:
            yield found
        finally:
            self._reads = None

    def counts(self, run: RunInfo) -> pd.DataFrame:
        """The run's merged count table (its first ``first_examples`` examples if the table says so)."""
        if self._reads is not None:
            self._reads.add(run.run)
        return self._counts(run)

    def _counts(self, run: RunInfo) -> pd.DataFrame:
        return first_examples(_read_counts(*_file_key(run.counts)), self.first_examples)

    def clean_accuracy(self, run: RunInfo) -> float:
        """Certified accuracy at r = 0 (abstentions count as wrong) at the table's alpha."""
        return float(metrics.clean_accuracy(self._certify(run)))

    def chance_accuracy(self, run: RunInfo) -> float:
        """The best constant classifier's accuracy on the run's test points (largest class share)."""
        counts = self._counts(run)
        return chance.chance_accuracy(counts["label"], int(np.asarray(counts["num_classes"])[0]))

    def degenerate(self, run: RunInfo) -> bool:
        """Whether the run's clean accuracy is at chance level (:func:`randsmooth.chance.at_chance`)."""
        k = int(np.asarray(self._counts(run)["num_classes"])[0])
        return chance.at_chance(self.clean_accuracy(run), self.chance_accuracy(run), k)

    def best_of(self, runs: Sequence[RunInfo]) -> tuple[list[RunInfo], list[RunInfo]]:
        """The runs a "best over sigma" may choose from -- those that are not degenerate (all of
        them if every one is) -- and the degenerate runs left out."""
        left_out = [r for r in runs if self.degenerate(r)]
        usable = [r for r in runs if r not in left_out]
        return (usable, left_out) if usable else (list(runs), [])

    def degenerate_reason(self, runs: Sequence[RunInfo]) -> str:
        """Why a result involving these degenerate runs is not evidence (clean vs chance accuracy)."""
        parts = [
            f"{r.label} (clean accuracy {self.clean_accuracy(r):.2f}, chance {self.chance_accuracy(r):.2f})"
            for r in runs
        ]
        return f"degenerate, clean accuracy at chance level: {'; '.join(parts)}"

    def certify(
        self, run: RunInfo, *, norm: str | None = None, budget: int | None = None, alpha: float | None = None
    ) -> pd.DataFrame:
        """CERTIFY's per-example decisions (:func:`randsmooth.decide.certify`) at the table's alpha,
        sidedness and norm unless overridden.

        At the table's own reading (its alpha and norm, one of its budgets) they are those of the
        table's metrics variant, read from the variant's per-example file (``decisions``: the one
        place they are computed); another reading (e.g. Yang et al.'s envelope in another norm) is
        computed here from the counts, once per process.
        """
        if self._reads is not None:
            self._reads.add(run.run)
        return self._certify(run, norm=norm, budget=budget, alpha=alpha)

    def _certify(
        self, run: RunInfo, *, norm: str | None = None, budget: int | None = None, alpha: float | None = None
    ) -> pd.DataFrame:
        norm = norm or self.norm
        alpha = self.alpha if alpha is None else alpha
        variant = self.decisions.get(run.run, {}).get(str(budget))
        if variant is not None and norm == self.norm and alpha == self.alpha:
            return _read_decisions(*_file_key(variant))
        key = (_file_key(run.counts), self.first_examples, norm, budget, alpha, self.two_sided)
        if key not in _DECISIONS:
            table = self._counts(run)
            _DECISIONS[key] = decide.certify(table, alpha, norm=norm, budget=budget, two_sided=self.two_sided)
        return _DECISIONS[key]

    def run(self, name: str) -> RunInfo:
        """The run of this table named ``name`` in the config."""
        for run in self.runs:
            if run.run == name:
                return run
        raise ValueError(f"table {self.name!r} has no run {name!r}; it has {[r.run for r in self.runs]}")

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


@functools.lru_cache(maxsize=64)
def _read_decisions(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """CERTIFY's columns of a metrics variant's per-example file (the cost-sensitive ones dropped)."""
    frame = pd.read_parquet(path)
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a per-example decisions file (missing columns {missing})")
    return frame[list(DECISION_COLUMNS)]


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
        decisions={run: dict(files) for run, files in raw.get("decisions", {}).items()},
        scale=raw.get("scale"),
        pairs=[list(p) for p in raw.get("pairs", [])],
    )
