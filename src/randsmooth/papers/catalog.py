"""What each paper's tables and figures are: names, kinds, references, files and options.

Torch-free (the workflow imports it to name targets and outputs). Every artifact is built once
per config table of its paper (``papers/<paper>/tables/<table>``), from the runs that table lists,
into ``results/papers/<paper>/<table>/``; its Snakemake target is ``<paper>_<name>`` (e.g.
``cohen2019_table1``). A table builds the paper's default artifacts unless it lists its own
(``artifacts: [...]``; opt-in artifacts such as ``sun2025``'s ``ablation`` only then), and
data-set-specific artifacts (Xin et al.'s precision/recall) only for their data set.

Conventions shared by every artifact: certified accuracy at r is the share of ALL certified test
points that are predicted correctly with radius >= r (abstentions count as wrong); ACR is the mean
of radius x correct over all points (wrong and abstained points count 0); radii are in [0, 1]
pixel units over all C x H x W coordinates, or in normalised units for a table of runs in the
normalised noise space (:mod:`randsmooth.models.noise_space`), which says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONVENTIONS = (
    "Certified accuracy at r = share of all certified test points predicted correctly with radius >= r "
    "(abstentions count as wrong); ACR = mean of radius x correct over all points (wrong and abstained "
    "points count 0); radii in [0, 1] pixel units over all C x H x W coordinates (a table in the normalised "
    "noise space says so: its sigma and radii are in normalised units)."
)
TABLE_FILES = (".csv", ".md", ".tex")
FIGURE_FILES = (".pdf", ".png", ".data.csv")


@dataclass(frozen=True)
class Artifact:
    """One table or figure of a paper.

    kind: "table" (CSV, Markdown, LaTeX) or "figure" (PDF, PNG and the plotted data as CSV);
    reference: the paper's table / figure / section it reproduces; keys: the config keys behind it;
    counts: whether it reads the runs' class counts (analytic figures do not); opt_in: built only
    for tables that list it; datasets: built only for tables of these data sets (empty = any);
    per_run: a file name pattern written once per run besides the main files (``{stem}`` =
    ``<method>_<sigma>``, as in Sun et al.'s released ``data/ecdf``); fixed_n: why it cannot read a
    sequential run ("" = it can; :meth:`sequential_problem`); pairs: it compares the table's
    sequential runs with their fixed-N twins (every run of the table is in one pair).
    """

    paper: str
    name: str
    kind: str
    title: str
    reference: str
    keys: str
    counts: bool = True
    opt_in: bool = False
    datasets: tuple[str, ...] = ()
    per_run: str | None = None
    fixed_n: str = ""
    pairs: bool = False

    @property
    def target(self) -> str:
        return f"{self.paper}_{self.name}"

    def sequential_problem(self, norm: str) -> str:
        """Why this artifact of a table in ``norm`` cannot read a sequential run ("" if it can): a
        sequential run's counts stop where its rule decided, so there are no fixed-N p_A estimates
        or prefix budgets, and its certificate exists only in the norm it was sampled for."""
        if self.name.startswith("envelope_") and self.name != f"envelope_{norm}":
            return f"it reads the runs in {self.name.removeprefix('envelope_')}, another norm than the table's"
        return self.fixed_n

    def files(self, stems: Sequence[str] = ()) -> list[str]:
        """File names (relative to the table folder); ``stems`` name the per-run files, one per
        run of the table (``<method>_<sigma>``, made unique by the workflow)."""
        suffixes = TABLE_FILES if self.kind == "table" else FIGURE_FILES
        names = [self.name + s for s in suffixes]
        if self.per_run:
            names += [self.per_run.format(stem=stem) for stem in stems]
        return names


# why an artifact cannot read a sequential run (Artifact.fixed_n)
_P_A = "it reads p_A estimates from fixed-N counts"
_BUDGETS = "it reads the prefix budgets of fixed-N counts"
_COSTS = "cost-sensitive certification reads fixed-N counts"


def sequential_artifacts(paper: str) -> tuple[Artifact, Artifact]:
    """The two artifacts every paper has for sequential certification (opt-in: a table lists them
    with its sequential runs and their fixed-N twins): the samples table and their histogram."""
    keys = "tables/<t>/runs (sequential runs and their fixed-N twins), alpha, norm, radii, artifacts"
    reference = (
        "not in the paper: sequential certification (README 'Sequential certification') against the "
        "paper's fixed-N CERTIFY (Cohen et al. 2019, section 3.2) on the same model and noise"
    )
    return (
        Artifact(
            paper,
            "samples",
            "table",
            "Samples used vs fixed N: mean, median and 95th percentile of estimation samples per test "
            "point, certified accuracy at each radius under both",
            reference,
            keys,
            opt_in=True,
            pairs=True,
        ),
        Artifact(
            paper,
            "samples_histogram",
            "figure",
            "Histogram of the estimation samples used per test point by sequential certification",
            reference,
            keys,
            opt_in=True,
            pairs=True,
        ),
    )


# Artifact(paper, name, kind, title, reference, keys, ...), in the order of each paper's text
_RUNS = "tables/<t>/runs (their models' method and sigma), alpha, two_sided, norm, radii"
ARTIFACTS: dict[str, tuple[Artifact, ...]] = {
    "cohen2019": (
        Artifact(
            "cohen2019",
            "certified_accuracy",
            "table",
            "Certified accuracy at each radius, one row per training method and sigma "
            "(train sigma = certification sigma)",
            "Cohen et al. 2019, appendix tables of certified accuracy by sigma (released analysis/latex/vary_noise_*)",
            _RUNS,
        ),
        Artifact(
            "cohen2019",
            "table1",
            "table",
            "Best sigma per radius with its certified accuracy and clean accuracy",
            "Cohen et al. 2019, Table 1",
            _RUNS,
        ),
        Artifact(
            "cohen2019",
            "vary_sigma",
            "figure",
            "Certified accuracy against radius, one line per training method and sigma",
            "Cohen et al. 2019, 'vary sigma' figures (released analysis/plots/vary_noise_*)",
            _RUNS,
        ),
        Artifact(
            "cohen2019",
            "vary_train_noise",
            "figure",
            "Certified accuracy against radius at one certification sigma, one line per training sigma",
            "Cohen et al. 2019, 'vary train noise, sigma = 0.5' figures (analysis/plots/vary_train_noise_*_050)",
            _RUNS + ", options/vary_train_noise_sigma",
        ),
        Artifact(
            "cohen2019",
            "high_prob",
            "figure",
            "Approximate and high-probability certified accuracy (HighProbAccuracy with rho)",
            "Cohen et al. 2019, appendix figure 'Approximate vs. High-Probability' (analysis/plots/high_prob)",
            _RUNS + ", options/high_prob_sigma, options/high_prob_rho",
        ),
        Artifact(
            "cohen2019",
            "predict",
            "table",
            "PREDICT at each budget N: accuracy, abstention, agreement with the largest N, time",
            "Cohen et al. 2019, PREDICT experiment (appendix; released code/analyze_predict.py)",
            "tables/<t>/runs (their prefix budgets), alpha",
            fixed_n=_BUDGETS,
        ),
        Artifact(
            "cohen2019",
            "radius_vs_pa",
            "figure",
            "The certified radius sigma * Phi^-1(p_A) against p_A, one line per sigma",
            "Cohen et al. 2019, Theorem 1 (released figures/compare_bounds.pdf, our bound only)",
            "tables/<t>/runs (their sigmas)",
            counts=False,
        ),
        Artifact(
            "cohen2019",
            "radius_vs_n",
            "figure",
            "Largest certifiable radius sigma * Phi^-1(alpha^(1/N)) against the number of samples N",
            "Cohen et al. 2019, radius against N (released figures/radiusslow.pdf)",
            "tables/<t>/runs (their sigmas), alpha",
            counts=False,
        ),
        *sequential_artifacts("cohen2019"),
    ),
    "yang2020": (
        Artifact(
            "yang2020",
            "table1",
            "table",
            "Best certified accuracy over sigma per noise family and training method at each radius",
            "Yang et al. 2020, Table 1",
            _RUNS + " (norm l1 for Table 1)",
        ),
        *(
            Artifact(
                "yang2020",
                f"envelope_{norm}",
                "figure",
                f"Envelope over sigma of the certified {norm} accuracy, one line per noise family and method",
                f"Yang et al. 2020, the {norm} envelope figure (rs4a certified_accuracies_{norm})",
                "tables/<t>/runs, alpha, two_sided",
            )
            for norm in ("l1", "l2", "linf")
        ),
        Artifact(
            "yang2020",
            "radius_vs_p",
            "figure",
            "Certified radius against the probability lower bound for every noise family at one sigma and d",
            "Yang et al. 2020, radius curves of the noise families (rs4a svgs/robust-radii.png)",
            "tables/<t>/norm, options/curve_sigma, options/families (d = the data set's C x H x W)",
            counts=False,
        ),
        Artifact(
            "yang2020",
            "linf_vs_dim",
            "figure",
            "Certified linf radius against the dimension d at one sigma and probability",
            "Yang et al. 2020, the linf limit Omega(1/sqrt(d)) of randomized smoothing (abstract)",
            "options/curve_sigma, options/curve_p, options/families, options/dims",
            counts=False,
        ),
        *sequential_artifacts("yang2020"),
    ),
    "sun2025": (
        Artifact(
            "sun2025",
            "table",
            "table",
            "Certified accuracy and ACR per training method and sigma",
            "Sun et al. 2025, main tables (certified accuracy at fixed radii and ACR per method)",
            _RUNS,
        ),
        Artifact(
            "sun2025",
            "pa_ecdf",
            "figure",
            "Complementary ECDF of p_A per method over x = 0.5 ... 1: certified-correct points with "
            "p_A >= x (solid, the paper's data/ecdf) and all points with true-label p_A >= x (dashed)",
            "Sun et al. 2025, Figure 9 (the released data/ecdf files)",
            "tables/<t>/runs, alpha, two_sided",
            per_run="ecdf/{stem}.csv",
            fixed_n=_P_A,
        ),
        Artifact(
            "sun2025",
            "pa_histogram",
            "figure",
            "Histogram of the true-label p_A per method and sigma",
            "Sun et al. 2025, the p_A distribution they propose instead of ACR (abstract)",
            "tables/<t>/runs, options/histogram_bins",
            fixed_n=_P_A,
        ),
        Artifact(
            "sun2025",
            "radius_cap",
            "figure",
            "The radius cap R_max(N, alpha) = sigma * Phi^-1(alpha^(1/N)) against N, one line per sigma",
            "Sun et al. 2025, the certification budget caps every radius (abstract; R_max(N, alpha))",
            "tables/<t>/runs (their sigmas), alpha",
            counts=False,
        ),
        Artifact(
            "sun2025",
            "acr_budget",
            "table",
            "ACR per budget N' from the prefix counts and, by the paper's extrapolation, up to 10^8, "
            "with the ranking of the methods per budget and sigma",
            "Sun et al. 2025, ACR's strong dependence on the certification budget (abstract)",
            "tables/<t>/runs (their prefix budgets), alpha, two_sided, options/plugin_budgets",
            fixed_n=_BUDGETS,
        ),
        Artifact(
            "sun2025",
            "acr_budget_figure",
            "figure",
            "ACR against the budget N' per method and sigma (solid: prefix counts; dashed: extrapolation)",
            "Sun et al. 2025, ACR against the certification budget",
            "tables/<t>/runs, alpha, two_sided, options/plugin_budgets",
            fixed_n=_BUDGETS,
        ),
        Artifact(
            "sun2025",
            "ablation",
            "table",
            "Ablation: certified accuracy, ACR and share of p_A >= 0.5 of the runs the table lists, "
            "with the change against its first row",
            "Sun et al. 2025, ablation of discarding, reweighting and the adaptive attack",
            "tables/<t>/runs (listed in ablation order, baseline first), artifacts: [ablation]",
            opt_in=True,
            fixed_n=_P_A,
        ),
        *sequential_artifacts("sun2025"),
    ),
    "xin2025": (
        Artifact(
            "xin2025",
            "standard",
            "table",
            "Clean accuracy and standard certified accuracy Rob_std per run (the same for every cost matrix)",
            "Xin et al. 2025, main tables (Acc, Rob_std)",
            _RUNS,
        ),
        Artifact(
            "xin2025",
            "cost_sensitive",
            "table",
            "Rob_cs and Rob_cost at epsilon per cost scenario; Rob_cs under the reference code's alpha "
            "split beside ours",
            "Xin et al. 2025, main tables (Rob_cs, Rob_cost) and Algorithm 1",
            _RUNS + ", costs, options/epsilon",
            fixed_n=_COSTS,
        ),
        Artifact(
            "xin2025",
            "rob_cs_curves",
            "figure",
            "Rob_cs against the radius, one panel per cost scenario, one line per run",
            "Xin et al. 2025, Rob_cs against the radius per scenario",
            _RUNS + ", costs",
            fixed_n=_COSTS,
        ),
        Artifact(
            "xin2025",
            "precision_recall",
            "table",
            "Precision and recall of the positive (malignant) class",
            "Xin et al. 2025, HAM10000 table (precision, recall)",
            "tables/<t>/runs, costs/<i>/positive_class",
            datasets=("ham10000",),
        ),
        *sequential_artifacts("xin2025"),
    ),
}

# options of a table (papers/<paper>/tables/<t>/options) with their defaults
OPTIONS: dict[str, dict[str, Any]] = {
    "cohen2019": {"vary_train_noise_sigma": 0.5, "high_prob_sigma": 0.5, "high_prob_rho": 0.001},
    "yang2020": {
        "curve_sigma": 0.5,
        "curve_p": 0.99,
        "families": [
            {"name": "uniform"},
            {"name": "laplace"},
            {"name": "gaussian"},
            {"name": "pareto", "params": {"a": 3}},
            {"name": "expp", "params": {"p": 0.5}},
            {"name": "uniform_ball"},
            {"name": "expinf", "params": {"k": 1, "j": 0}},
        ],
        "dims": [16, 64, 256, 1024, 3072, 16384, 150528, 1000000],
    },
    "sun2025": {"plugin_budgets": [1000, 10000, 100000, 1000000, 10000000, 100000000], "histogram_bins": 20},
    "xin2025": {"epsilon": 0.5},
}

# The papers' own setting, for the deviations each paper README lists.
PAPER_SETUPS: dict[str, dict[str, Any]] = {
    "cohen2019": {
        "citation": "Cohen, Rosenfeld & Kolter, Certified Adversarial Robustness via Randomized Smoothing, ICML 2019",
        "datasets": {"cifar10": "cifar_resnet110", "imagenet": "resnet50"},
        "n0": 100,
        "n": 100000,
        "alpha": 0.001,
        "two_sided": False,
    },
    "yang2020": {
        "citation": "Yang et al., Randomized Smoothing of All Shapes and Sizes, ICML 2020",
        "datasets": {"cifar10": "wrn40_2", "imagenet": "resnet50"},
        "n0": 64,
        "n": 100000,
        "alpha": 0.001,
        "two_sided": True,
    },
    "sun2025": {
        "citation": "Sun, Mao, Mueller & Vechev, Average Certified Radius is a Poor Metric for Randomized "
        "Smoothing, ICML 2025",
        "datasets": {"cifar10": "cifar_resnet110", "imagenet": "resnet50"},
        "n0": 100,
        "n": 100000,
        "alpha": 0.001,
        "two_sided": False,
    },
    "xin2025": {
        "citation": "Xin, Chen, Backes & Zhang, Provably Cost-Sensitive Adversarial Defense via Randomized "
        "Smoothing, ICML 2025",
        "datasets": {"cifar10": "cifar_resnet56", "imagenette": "ham_resnet", "ham10000": "ham_resnet"},
        "n0": 100,
        "n": 100000,
        "alpha": 0.001,
        "two_sided": False,
    },
}


def artifacts_of(paper: str) -> tuple[Artifact, ...]:
    """Every artifact of ``paper`` (empty for a paper this library has no artifacts for)."""
    return ARTIFACTS.get(paper, ())


def get_artifact(paper: str, name: str) -> Artifact:
    for artifact in artifacts_of(paper):
        if artifact.name == name:
            return artifact
    known = [a.name for a in artifacts_of(paper)]
    raise ValueError(f"paper {paper!r} has no artifact {name!r}; known: {known}")


def table_artifacts(paper: str, listed: Sequence[str] | None, dataset: str, where: str) -> list[str]:
    """The artifacts one config table builds: ``listed`` (checked) or the paper's defaults that
    apply to ``dataset``. A listed artifact for another data set is an error naming ``where``."""
    if listed is None:
        return [a.name for a in artifacts_of(paper) if not a.opt_in and (not a.datasets or dataset in a.datasets)]
    known = [a.name for a in artifacts_of(paper)]
    for name in listed:
        if name not in known:
            raise ValueError(f"config key {where!r}: {paper} has no artifact {name!r}; known: {known}")
        artifact = get_artifact(paper, name)
        if artifact.datasets and dataset not in artifact.datasets:
            raise ValueError(
                f"config key {where!r}: artifact {name!r} needs a table of {list(artifact.datasets)}, not {dataset!r}"
            )
    return list(listed)


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, type(default))


def resolve_options(paper: str, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The table options of ``paper`` with defaults filled in; unknown keys and values of the
    wrong type are errors naming ``where/<key>``."""
    defaults = OPTIONS.get(paper, {})
    for key, value in options.items():
        if key not in defaults:
            raise ValueError(
                f"config key '{where}/{key}' is not an option of {paper}; expected one of {sorted(defaults)}"
            )
        if not _same_kind(defaults[key], value):
            raise ValueError(f"config key '{where}/{key}': expected a value like {defaults[key]!r}, got {value!r}")
    return {**defaults, **dict(options)}


def scale_text(scale: Mapping[str, Any], dataset: str, sigmas: Iterable[float]) -> str:
    """``scale`` = {paper_dataset, factor k} as caption text: the paper's sigma of each of ``sigmas``
    (this data set's sigma / k), e.g. "paper σ 0.25 ↔ digits σ 0.125"."""
    factor = float(scale["factor"])
    ours = sorted(set(sigmas))
    theirs = ", ".join(f"{s / factor:.3g}" for s in ours)
    return (
        f"scaled from {scale['paper_dataset']} by k = {factor:g} (σ, attack ε and radii; config/README.md, "
        f"'Scale rule'): paper σ {theirs} ↔ {dataset} σ {', '.join(f'{s:g}' for s in ours)}"
    )
