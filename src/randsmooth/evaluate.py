"""One metrics variant of a count table: every paper metric under one (alpha, norm, budget, cost matrix).

A certification run is sampled once; :class:`MetricsSpec` says how to read it (the error level
alpha and its sidedness, the radius norm, the estimation budget n', the radius grid, the p_A
thresholds and an optional cost matrix), and :func:`evaluate` returns

* ``long``: a table ``metric, param, value`` -- ``param`` is the radius for
  ``certified_accuracy`` / ``rob_cs_*`` / ``rob_std*`` / ``rob_cost_max_*``, the budget for
  ``predict_*``, the threshold for ``pa_ccdf`` and empty for scalars (n_rows, alpha, acr,
  clean_accuracy, abstain_rate, ...);
* ``per_example``: CERTIFY's per-example decisions (``idx, label, predict, radius, correct,
  p_lower, n_a``) and, with a cost matrix, the cost-sensitive ones prefixed ``cs_``.

Conventions: certified accuracy counts abstentions as wrong; ACR counts wrong and abstained
examples as 0 (Cohen et al. 2019, Sec. 3.2; Sun et al. 2025, Sec. 2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import decide, metrics, render
from .bounds import certificate_alpha
from .costs import CostMatrix, from_config
from .counts import common_budgets, noise_groups

NORMS = ("l1", "l2", "linf")
CS_MODES = ("group", "pair")
DEFAULT_RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)
DEFAULT_PA_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
# what sigma and the radii mean in each noise space (randsmooth.models.noise_space)
NOISE_SPACE_NOTES = {
    "pixel": "noise space pixel: sigma and radii in [0, 1] pixel units",
    "normalized": "noise space normalized: noise added after the model's normalisation, sigma and radii in "
    "normalised units (pixel units / channel std)",
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class MetricsSpec:
    """How to read a count table.

    alpha: error level in (0, 1/2), one-sided unless ``two_sided`` (then Yang et al.'s two-sided
    Clopper-Pearson interval); norm: radius norm; budget: use the first n' estimation samples (a
    recorded prefix budget; None = all n); radii: certified-accuracy grid (pixel units);
    pa_thresholds: grid of the p_A complementary ECDF; cost: a cost matrix in the form
    :func:`randsmooth.costs.from_config` reads (None = no cost-sensitive metrics); cs_mode: group
    or pair certificate; legacy_alpha: the reference code's error split; positive_class: the
    positive class of precision / recall; first_examples: read only the first N examples of the run
    (by idx; None = all), e.g. the 427 of Cohen et al.'s truncated ImageNet sigma = 0.25 log.
    """

    alpha: float
    two_sided: bool = False
    norm: str = "l2"
    budget: int | None = None
    radii: tuple[float, ...] = DEFAULT_RADII
    pa_thresholds: tuple[float, ...] = DEFAULT_PA_THRESHOLDS
    cost: dict[str, Any] | None = field(default=None, hash=False)
    cs_mode: str = "group"
    legacy_alpha: bool = False
    positive_class: int = 0
    first_examples: int | None = None

    def __post_init__(self) -> None:
        certificate_alpha(self.alpha)
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.budget is not None and (isinstance(self.budget, bool) or not isinstance(self.budget, int)):
            raise ValueError(f"budget must be a positive integer or null, got {self.budget!r}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be a positive integer or null, got {self.budget!r}")
        radii = tuple(self.radii)
        if not radii or not all(_number(r) and r >= 0 for r in radii):
            raise ValueError(f"radii must be a non-empty list of numbers >= 0, got {self.radii!r}")
        thresholds = tuple(self.pa_thresholds)
        if not thresholds or not all(_number(t) and 0 <= t <= 1 for t in thresholds):
            raise ValueError(f"pa_thresholds must be a non-empty list of numbers in [0, 1], got {self.pa_thresholds!r}")
        first = self.first_examples
        if first is not None and (isinstance(first, bool) or not isinstance(first, int) or first < 1):
            raise ValueError(f"first_examples must be a positive integer or null, got {first!r}")
        if self.cs_mode not in CS_MODES:
            raise ValueError(f"cs_mode must be one of {CS_MODES}, got {self.cs_mode!r}")
        if self.cost is not None:
            try:
                from_config(self.cost)
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"cost: {exc}") from None
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "radii", tuple(float(r) for r in radii))
        object.__setattr__(self, "pa_thresholds", tuple(float(t) for t in thresholds))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["radii"], out["pa_thresholds"] = list(self.radii), list(self.pa_thresholds)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "metrics spec") -> MetricsSpec:
        """Build from a JSON object; one-line errors naming ``source`` and the key."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key {unknown[0]!r}; expected some of {sorted(known)}")
        if "alpha" not in data:
            raise ValueError(f"{source}: missing key 'alpha'")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    def cost_matrix(self, num_classes: int) -> CostMatrix | None:
        """The cost matrix of a table with ``num_classes`` classes (None without one); it must be
        K x K: a smaller one would silently ignore the costs of the other classes (a preset is
        padded only when asked, with its ``num_classes``)."""
        if self.cost is None:
            return None
        cm = from_config(self.cost)
        if cm.num_classes != num_classes:
            raise ValueError(
                f"cost matrix is {cm.num_classes} x {cm.num_classes} but the table has {num_classes} classes; "
                f"give a {num_classes} x {num_classes} matrix (or a preset with num_classes: {num_classes})"
            )
        return cm


@dataclass
class Evaluation:
    """The result of :func:`evaluate` (see the module docstring)."""

    long: pd.DataFrame
    per_example: pd.DataFrame
    certified_accuracy: np.ndarray
    predict: pd.DataFrame
    cost_matrix: CostMatrix | None = None


class _Rows(list):
    def add(self, metric: str, param: Any, value: Any) -> None:
        self.append({"metric": metric, "param": "" if param is None else param, "value": float(value)})

    def add_curve(self, metric: str, params: Any, values: Any) -> None:
        for param, value in zip(params, np.atleast_1d(values), strict=True):
            self.add(metric, param, value)


def first_examples(table: pd.DataFrame, count: int | None) -> pd.DataFrame:
    """The first ``count`` rows of ``table`` by example index (all rows if None)."""
    if count is None:
        return table
    if count > len(table):
        raise ValueError(f"first_examples {count} exceeds the table's {len(table)} examples")
    return table.sort_values("idx", kind="stable").iloc[:count]


def evaluate(table: pd.DataFrame, spec: MetricsSpec) -> Evaluation:
    """Every metric of one variant of a merged count table (module docstring)."""
    table = first_examples(table, spec.first_examples)
    cert = decide.certify(table, spec.alpha, norm=spec.norm, budget=spec.budget, two_sided=spec.two_sided)
    rows = _Rows()
    rows.add("n_rows", None, len(cert))
    rows.add("alpha", None, spec.alpha)
    if spec.budget is not None:
        rows.add("budget", None, spec.budget)
    ca = metrics.certified_accuracy(cert, spec.radii)
    rows.add_curve("certified_accuracy", spec.radii, ca)
    rows.add("acr", None, metrics.acr(cert))
    rows.add("clean_accuracy", None, metrics.clean_accuracy(cert))
    rows.add("abstain_rate", None, metrics.abstain_rate(cert))
    # a sequential run's counts stopped where the rule decided: no PREDICT at common prefix budgets
    # and no p_A estimate (fixed-N readings of optionally stopped counts); its certificates are above
    fixed_n = decide.sequential_of(table) is None
    budgets = common_budgets(table) if "prefix_budgets" in table.columns and fixed_n else []
    pm = metrics.predict_metrics(table, spec.alpha, budgets) if budgets else pd.DataFrame()
    for rec in pm.to_dict("records"):
        rows.add("predict_accuracy", rec["budget"], rec["accuracy"])
        rows.add("predict_abstain_rate", rec["budget"], rec["abstain_rate"])
    if fixed_n:
        pa = metrics.pa_ccdf(table, spec.pa_thresholds, budget=spec.budget)
        rows.add_curve("pa_ccdf", spec.pa_thresholds, pa)
    result = Evaluation(pd.DataFrame(), cert, np.atleast_1d(ca), pm)
    cm = spec.cost_matrix(int(np.asarray(table["num_classes"])[0]))
    if cm is not None:
        result.cost_matrix = cm
        result.per_example = _cost_sensitive_rows(table, cert, cm, spec, rows)
    result.long = pd.DataFrame(rows, columns=["metric", "param", "value"])
    return result


def _cost_sensitive_rows(
    table: pd.DataFrame, cert: pd.DataFrame, cm: CostMatrix, spec: MetricsSpec, rows: _Rows
) -> pd.DataFrame:
    """Add Xin et al.'s metrics (both abstention conventions) to ``rows``; return the per-example table."""
    cs_code = None
    for convention in ("code", "strict"):
        cs = decide.cost_sensitive(
            table,
            cm,
            spec.alpha,
            mode=spec.cs_mode,
            legacy_alpha=spec.legacy_alpha,
            abstain=convention,
            budget=spec.budget,
        )
        rows.add_curve(f"rob_cs_{convention}", spec.radii, metrics.rob_cs(cs, spec.radii))
        cost = metrics.rob_cost_max(cs, cm, spec.radii, abstain=convention, per_target=spec.cs_mode == "pair")
        rows.add_curve(f"rob_cost_max_{convention}", spec.radii, cost)
        cs_code = cs if convention == "code" else cs_code
    for rec in metrics.group_breakdown(cert, cm, spec.radii).to_dict("records"):
        if rec["group"] != "all":
            param = None if rec["metric"] == "clean_accuracy" else rec["radius"]
            rows.add(f"{rec['metric']}_{rec['group']}", param, rec["value"])
    pr = metrics.precision_recall(cert, positive=spec.positive_class)
    rows.add("precision", spec.positive_class, pr["precision"])
    rows.add("recall", spec.positive_class, pr["recall"])
    keep = cs_code[["r", "r_std", "r_cs", "c_b", "n_b", "mass", "correct", "seed_group"]]
    return cert.join(keep.add_prefix("cs_"))


def markdown(result: Evaluation, table: pd.DataFrame, spec: MetricsSpec, title: str) -> str:
    """A Markdown summary of one variant: the certified-accuracy row and every metric."""
    legend = ", ".join(f"{g.name} σ = {g.sigma:g}" for g, _ in noise_groups(table))
    ca = pd.DataFrame([result.certified_accuracy], index=[legend], columns=[f"r = {r:g}" for r in spec.radii])
    sided = "two" if spec.two_sided else "one"
    budget = spec.budget if spec.budget is not None else "all n"
    space = table.attrs.get("settings", {}).get("noise_space", "pixel")
    lines = [
        f"# Metrics for `{title}`",
        "",
        f"alpha = {spec.alpha:g} ({sided}-sided), norm {spec.norm}, budget {budget}, {len(result.per_example)} rows",
        "",
        f"{NOISE_SPACE_NOTES[space]}",
        "",
        "## Certified accuracy",
        "",
        render.gfm_frame(ca, "noise").rstrip("\n"),
        "",
        "## All metrics",
        "",
        render.gfm_table(
            ["metric", "param", "value"], [[m, str(p), f"{v:.4f}"] for m, p, v in result.long.itertuples(index=False)]
        ).rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"
