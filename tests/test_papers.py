"""randsmooth.papers: the paper tables, figures, published values, claims and released-log tables.

Artifacts are built from hand-made count tables written where the workflow's ``tables.json`` says
(the spec comes from a real config through randsmooth.pipeline), so every number below is known.
The released-log tables read the fixture logs of tests/published_log_fixtures.py.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from published_log_fixtures import FIXTURES, write_fixtures
from randsmooth import bounds, render
from randsmooth.cli import paper as paper_cli
from randsmooth.counts import read_table, synthetic_table, write_table
from randsmooth.evaluate import MetricsSpec, evaluate
from randsmooth.papers import catalog, claims, readme
from randsmooth.papers.build import build_artifact
from randsmooth.papers.data import load_spec
from randsmooth.papers.index import index_frame
from randsmooth.papers.published import Published, Record, load_published
from randsmooth.papers.published_logs import build_published_logs, check_clone
from randsmooth.papers.tables import Cell, PaperTable, Section, attach_published
from randsmooth.pipeline import commands, config
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
N = 1000
ALPHA = 0.001


# ------------------------------------------------------------------------ GFM check
def gfm_problems(markdown: str) -> list[str]:
    """Why the Markdown's tables are not valid GitHub tables (empty list: valid).

    A table is a block of lines starting with ``|``: every line ends with ``|``, the second line is
    the delimiter row (``---`` cells, optional colons), and every row has the header's number of
    cells (pipes escaped as ``\\|`` do not count). Raw HTML is a problem anywhere.
    """
    outside_code = [re.sub(r"(`+)(.+?)(?<!`)\1(?!`)", "", line) for line in markdown.splitlines()]
    problems = [f"HTML: {line}" for line in outside_code if re.search(r"</?[a-zA-Z]+[^>]*>", line)]
    block: list[str] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if line.strip() and not block and "|" in line.split(" ")[0]:
            problems.append(f"row not starting with |: {line}")
        if block:
            cells = [len(re.split(r"(?<!\\)\|", row)) - 2 for row in block]
            if len(block) < 2 or not re.fullmatch(r"\|( *:?-{3,}:? *\|)+", block[1]):
                problems.append(f"no delimiter row: {block[:2]}")
            if any(not row.rstrip().endswith("|") for row in block):
                problems.append(f"row not ending with |: {block}")
            if len(set(cells)) != 1:
                problems.append(f"cell counts {cells}: {block}")
            block = []
    return problems


def test_gfm_check_accepts_our_tables_and_rejects_cohens() -> None:
    table = render.gfm_table(["run", "r = 0.5"], [["a | b", "0.50"], ["c", "0.40"]], [[False, True], [False, False]])
    assert gfm_problems(table) == []
    assert "a \\| b" in table and "**0.50**" in table
    cohen = pd.DataFrame([[0.5, 0.2], [0.4, 0.3]], index=["a", "b"], columns=[0.25, 0.5])
    assert gfm_problems(render.markdown_cohen_string(cohen))  # released format: <b> rows, not a valid table
    assert gfm_problems("| a | b |\n| --- | --- |\n| 1 |\n")  # wrong cell count
    assert gfm_problems("| a |\n| --- |\n| data/<method>.csv |\n")  # GitHub would drop <method>
    assert gfm_problems("| a |\n| --- |\n| `data/<method>.csv` |\n") == []
    assert gfm_problems(f"| a |\n| --- |\n| {render.md_code('x`y <b>')} |\n") == []  # a name with a backtick


def test_best_in_column_marks_ties_but_not_all_equal_columns() -> None:
    assert render.best_in_column([0.0, 0.0, 0.0]) == [False, False, False]
    assert render.best_in_column([0.5, 0.7, 0.7]) == [False, True, True]
    assert render.best_in_column([0.5]) == [False]


def test_booktabs_escapes_and_rules() -> None:
    tex = render.booktabs_table(["run_1 & σ", "r ≥ 0.5"], [["50% a_b", "0.50"]], [[False, True]], caption="x")
    assert tex.splitlines()[0] == "% x"
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lr}"):
        assert rule in tex
    assert r"run\_1 \& $\sigma$" in tex and r"r $\geq$ 0.5" in tex and r"50\% a\_b" in tex
    assert r"\textbf{0.50}" in tex


# ------------------------------------------------------------------------- fixtures
def base_config(tmp: Path) -> dict[str, Any]:
    """A digits config whose runs get hand-made counts (see write_counts)."""
    model = {"dataset": "digits", "arch": "digits_cnn", "recipe": "r", "noise": "gaussian"}
    return {
        "results": str(tmp / "results"),
        "datasets": {"digits": {"name": "digits"}},
        "recipes": {
            "r": {
                "epochs": 1,
                "batch_size": 8,
                "optimizer": {"lr": 0.1},
                "schedule": {"name": "constant"},
                "workers": 0,
            }
        },
        "models": {
            "g25": {**model, "sigma": 0.25},
            "g100": {**model, "sigma": 1.0},
            "stab25": {
                **model,
                "sigma": 0.25,
                "method": {"name": "stability", "params": {"variant": "li", "weight": 2}},
            },
        },
        "certify": {
            "g25": {"model": "g25", "n0": 10, "n": N, "examples": {"stop": 10}},
            "g100": {"model": "g100", "n0": 10, "n": N, "examples": {"stop": 10}},
            "stab25": {"model": "stab25", "n0": 10, "n": N, "examples": {"stop": 10}},
            "g25_at_100": {"model": "g25", "sigma": 1.0, "n0": 10, "n": N, "examples": {"stop": 10}},
        },
        "papers": {},
    }


def counts(labels: list[int], top: list[int], n_top: list[int], n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """Selection and estimation counts: row i puts n_top[i] of n samples (and all 10 selection
    samples) on class top[i], the rest on the next class."""
    sel = np.zeros((len(labels), 10), dtype=np.int64)
    est = np.zeros((len(labels), 10), dtype=np.int64)
    for i, (c, k) in enumerate(zip(top, n_top, strict=True)):
        sel[i, c] = 10
        est[i, c] = k
        est[i, (c + 1) % 10] = n - k
    return sel, est


def build(tmp: Path, cfg: dict[str, Any], paper: str, data: dict[str, tuple[list[int], list[int], list[int]]]) -> Path:
    """Write the paper's tables.json from the config and the runs' counts; return the spec path."""
    plan = Plan(config.validate(copy.deepcopy(cfg), SCHEMA))
    paths = Paths(plan.results)
    spec = json.loads(commands.paper_tables_json(plan, paths, paper))
    for table in spec["tables"]:
        for run in table["runs"]:
            labels, top, n_top = data[run["run"]]
            sel, est = counts(labels, top, n_top)
            frame = synthetic_table(
                labels,
                sel,
                est,
                sigma=run["sigma"],
                noise=run["noise"],
                noise_params=run["noise_params"],
                dim=64,
                budgets=[100],
            )
            Path(run["counts"]).parent.mkdir(parents=True, exist_ok=True)
            write_table(frame, run["counts"])
    for e in plan.paper_entries(paper):  # what the metrics jobs write: each variant's decisions
        counts_file = paths.counts.format(run=e.variant.run_key)
        result = evaluate(read_table(counts_file), MetricsSpec.from_dict(e.variant.spec))
        out = Path(paths.metrics_examples.format(run=e.variant.run_key, variant=e.variant.key))
        out.parent.mkdir(parents=True, exist_ok=True)
        result.per_example.to_parquet(out, index=False)
    path = tmp / "results" / "papers" / paper / "tables.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    return path


LABELS = list(range(10))
ALL_RIGHT = (LABELS, LABELS, [N] * 10)  # every point correct with n_A = N
HALF_RIGHT = (LABELS, [y if y < 5 else (y + 1) % 10 for y in LABELS], [N] * 10)  # 5 correct, 5 wrong


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


# ----------------------------------------------------------------------------- Cohen
@pytest.fixture()
def cohen(tmp_path: Path) -> tuple[Path, Path]:
    cfg = base_config(tmp_path)
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0}  # the defaults, 0.5, have no run here
    cfg["papers"]["cohen2019"] = {
        "tables": {"digits": {"runs": ["g25", "g100", "g25_at_100"], "radii": [0.0, 0.5, 1.0, 2.0], "options": options}}
    }
    data = {"g25": ALL_RIGHT, "g100": HALF_RIGHT, "g25_at_100": HALF_RIGHT}
    return build(tmp_path, cfg, "cohen2019", data), tmp_path / "results" / "papers" / "cohen2019"


def test_cohen_options_without_their_runs_are_refused_by_the_plan(tmp_path: Path) -> None:
    """The default sigma 0.5 of high_prob and vary_train_noise has no run in this table: refused
    when the config is read, not in the artifact job after training and certification."""
    cfg = base_config(tmp_path)
    cfg["papers"]["cohen2019"] = {"tables": {"digits": {"runs": ["g25", "g100", "g25_at_100"]}}}
    with pytest.raises(ValueError, match="options/high_prob_sigma': no run of the table is certified at sigma = 0.5"):
        Plan(config.validate(copy.deepcopy(cfg), SCHEMA))
    cfg["papers"]["cohen2019"]["tables"]["digits"]["artifacts"] = ["vary_train_noise"]
    with pytest.raises(ValueError, match="options/vary_train_noise_sigma': no run of the table is certified"):
        Plan(config.validate(copy.deepcopy(cfg), SCHEMA))


def test_cohen_tables_have_the_known_numbers(cohen: tuple[Path, Path]) -> None:
    spec, out = cohen
    for name in ("certified_accuracy", "table1", "predict"):
        assert build_artifact(spec, f"cohen2019_{name}", None, out) == ["digits"]
    ca = read(out / "digits" / "certified_accuracy.csv")
    assert set(ca["row"]) == {"Gaussian, σ = 0.25", "Gaussian, σ = 1"}  # matched runs only
    r25 = bounds.max_radius(N, ALPHA, 0.25)  # 0.616: every sigma = 0.25 point is certified up to here
    got = ca.set_index(["sigma", "radius"])["value"]
    assert got[(0.25, 0.0)] == 1.0 and got[(0.25, 0.5)] == 1.0 and got[(0.25, 1.0)] == 0.0 and r25 < 1.0
    assert got[(1.0, 0.0)] == 0.5 and got[(1.0, 2.0)] == 0.5
    table1 = read(out / "digits" / "table1.csv").pivot_table(index="radius", columns="metric", values="value")
    assert table1.loc[0.5].to_dict() == {"certified_accuracy": 1.0, "clean_accuracy": 1.0, "sigma": 0.25}
    assert table1.loc[2.0].to_dict() == {"certified_accuracy": 0.5, "clean_accuracy": 0.5, "sigma": 1.0}
    assert 0.0 not in table1.index  # Table 1 starts at r > 0
    predict = read(out / "digits" / "predict.csv")
    assert set(predict["budget"]) == {100, N}
    md = (out / "digits" / "table1.md").read_text()
    assert gfm_problems(md) == [] and "Cohen et al. 2019, Table 1." in md and "α = 0.001 (one-sided" in md


def test_cohen_figures_have_one_line_per_run(cohen: tuple[Path, Path]) -> None:
    spec, out = cohen
    expected = {"vary_sigma": 2, "vary_train_noise": 2, "radius_vs_pa": 2, "radius_vs_n": 2}
    for name, lines in expected.items():
        build_artifact(spec, f"cohen2019_{name}", None, out)
        data = read(out / "digits" / f"{name}.data.csv")
        assert data["line"].nunique() == lines, name
        for suffix in (".pdf", ".png"):
            assert (out / "digits" / f"{name}{suffix}").stat().st_size > 1000
    curve = read(out / "digits" / "vary_sigma.data.csv")
    for _, line in curve.groupby("line"):
        assert (np.diff(line["y"].to_numpy()) <= 0).all()  # non-increasing in the radius
    cap = read(out / "digits" / "radius_vs_n.data.csv").groupby("line")["y"]
    assert cap.max()["σ = 1"] == pytest.approx(float(bounds.max_radius(10**7, ALPHA, 1.0)))


def test_vary_train_noise_and_high_prob_read_their_options(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0, "high_prob_rho": 0.01}
    cfg["papers"]["cohen2019"] = {"tables": {"digits": {"runs": ["g100", "g25_at_100"], "options": options}}}
    spec = build(tmp_path, cfg, "cohen2019", {"g100": HALF_RIGHT, "g25_at_100": ALL_RIGHT})
    out = tmp_path / "out"
    build_artifact(spec, "cohen2019_vary_train_noise", None, out)
    assert read(out / "digits" / "vary_train_noise.data.csv")["line"].nunique() == 2
    build_artifact(spec, "cohen2019_high_prob", None, out)
    data = read(out / "digits" / "high_prob.data.csv")
    approx, bound = (data[data["variant"] == v]["y"].to_numpy() for v in (0, 1))
    penalty = 0.001 + np.sqrt(0.001 * 0.999 * np.log(100) / 10) + np.log(100) / 30
    np.testing.assert_allclose(approx - bound, penalty)  # Cohen's HighProbAccuracy at N = 10 rows


def test_first_examples_and_noise_space_reach_the_artifacts(tmp_path: Path) -> None:
    """A table with first_examples reads a prefix of its runs (here the 5 correct points of
    HALF_RIGHT); a table of runs in the normalised noise space says so in its header."""
    cfg = base_config(tmp_path)
    cfg["models"]["g100"]["noise_space"] = "normalized"
    tables = {
        "first5": {"runs": ["g100"], "first_examples": 5, "radii": [0.0, 1.0], "artifacts": ["certified_accuracy"]}
    }
    cfg["papers"]["cohen2019"] = {"tables": tables, "published_logs": None}
    spec = build(tmp_path, cfg, "cohen2019", {"g100": HALF_RIGHT})
    out = tmp_path / "out"
    build_artifact(spec, "cohen2019_certified_accuracy", None, out)
    got = read(out / "first5" / "certified_accuracy.csv").set_index("radius")["value"]
    assert got[0.0] == 1.0 and got[1.0] == 1.0  # all 10 points: 0.5
    md = (out / "first5" / "certified_accuracy.md").read_text()
    assert "the first 5 test points of each run" in md and "normalised units" in md


def test_scale_mapping_reaches_captions_readme_and_report(tmp_path: Path) -> None:
    """A table's ``scale`` (paper data set, factor k) is printed as "paper σ x ↔ digits σ k x" in
    the table caption, the paper README (its table section and the deviations) and the report caption."""
    cfg = base_config(tmp_path)
    scale = {"paper_dataset": "CIFAR-10", "factor": 0.5}
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0}  # the defaults, 0.5, have no run here
    table = {"runs": ["g25", "g100"], "radii": [0.0, 0.5], "scale": scale, "options": options}
    cfg["papers"]["cohen2019"] = {"tables": {"digits": table}}
    spec_path = build(tmp_path, cfg, "cohen2019", {"g25": ALL_RIGHT, "g100": HALF_RIGHT})
    mapping = "paper σ 0.5, 2 ↔ digits σ 0.25, 1"
    assert catalog.scale_text(scale, "digits", [1.0, 0.25, 1.0]).endswith(mapping)
    out = tmp_path / "out"
    build_artifact(spec_path, "cohen2019_certified_accuracy", None, out)
    assert mapping in (out / "digits" / "certified_accuracy.md").read_text()
    spec = load_spec(spec_path)
    text = readme.write_readme(spec, pd.DataFrame(), [], False, tmp_path / "README.md")
    assert text.count(mapping) == 2 and "k = 0.5" in text and "What may explain" not in text
    failing = pd.DataFrame([{"id": "x", "claim": "c", "source": "s", "table": "digits", "status": claims.FAILS}])
    text = readme.write_readme(spec, failing.assign(evidence="e"), [], False, tmp_path / "README.md")
    explain = text.split("## What may explain a claim that does not hold here")[1]
    assert "d = 64 (the paper: cifar10 d = 3,072, imagenet d = 150,528)" in explain and mapping in explain
    # g25: all 10 points right with n_A = N (radius = the cap); g100: 5 right; one point = 0.1
    cap = float(bounds.max_radius(N, 0.001, 1.0))
    assert f"| 1.000 | {cap / 4:.3g} | {cap / 4:.3g} | 0.100 |" in explain
    assert f"| 0.500 | {cap:.3g} | {cap:.3g} | 0.100 |" in explain
    plan = Plan(config.validate(copy.deepcopy(cfg), SCHEMA))
    caption = commands.artifact_caption(plan, catalog.get_artifact("cohen2019", "certified_accuracy"))
    assert "Table ``digits``: scaled from CIFAR-10 by k = 0.5" in caption and mapping in caption
    del cfg["papers"]["cohen2019"]["tables"]["digits"]["scale"]  # the paper's own scale: no mapping
    plan = Plan(config.validate(copy.deepcopy(cfg), SCHEMA))
    assert "↔" not in commands.artifact_caption(plan, catalog.get_artifact("cohen2019", "certified_accuracy"))


# ------------------------------------------------------------------------------- Yang
def test_yang_envelope_table_and_claims(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    model = {"dataset": "digits", "arch": "digits_cnn", "recipe": "r"}
    cfg["models"].update(
        u50={**model, "noise": "uniform", "sigma": 0.5}, lap50={**model, "noise": "laplace", "sigma": 0.5}
    )
    cfg["certify"].update(
        u50={"model": "u50", "n0": 10, "n": N, "examples": {"stop": 10}},
        lap50={"model": "lap50", "n0": 10, "n": N, "examples": {"stop": 10}},
    )
    cfg["papers"]["yang2020"] = {
        "tables": {"digits": {"runs": ["u50", "lap50", "g25"], "norm": "l1", "radii": [0.0, 0.25, 0.5, 1.0]}}
    }
    # uniform: 10 of 10 at p = 0.9 (l1 radius sqrt(3) 0.5 (2 p_low - 1) ~ 0.67); laplace: 5 of 10 at p = 1
    data = {"u50": (LABELS, LABELS, [900] * 10), "lap50": HALF_RIGHT, "g25": HALF_RIGHT}
    spec = build(tmp_path, cfg, "yang2020", data)
    out = tmp_path / "out"
    build_artifact(spec, "yang2020_table1", None, out)
    table = read(out / "digits" / "table1.csv")
    ca = table[table["metric"] == "certified_accuracy"].set_index(["group", "radius"])["value"]
    assert ca[("uniform", 0.5)] == 1.0 and ca[("uniform", 1.0)] == 0.0 and ca[("laplace", 1.0)] == 0.5
    for norm in ("l1", "l2", "linf"):
        build_artifact(spec, f"yang2020_envelope_{norm}", None, out)
        assert read(out / "digits" / f"envelope_{norm}.data.csv")["line"].nunique() == 3
    loaded = load_spec(spec)
    verdict = claims.CHECKS["envelope_dominates"](loaded.tables[0], {"better": "uniform", "worse": "laplace"})
    # r = 1 is beyond Uniform's l1 cap 2 sqrt(3) sigma (alpha^(1/N) - 1/2) = 0.85 at sigma 0.5: not compared
    cap = 2 * np.sqrt(3) * 0.5 * (ALPHA ** (1 / N) - 0.5)
    assert verdict.status == claims.HOLDS and "r = 0.5: 1.00 vs 0.50" in verdict.evidence
    assert f"r = 1 not compared: beyond Uniform's largest cap {cap:.2f} (σ = 0.5, N = 1,000)" in verdict.evidence
    verdict = claims.CHECKS["envelope_dominates"](loaded.tables[0], {"better": "uniform", "worse": "uniform+stability"})
    assert verdict.status == claims.UNMEASURABLE


def test_yang_analytic_figures_need_no_counts(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["papers"]["yang2020"] = {"tables": {"digits": {"runs": ["g25"], "norm": "l1", "options": {"dims": [16, 64]}}}}
    plan = Plan(config.validate(copy.deepcopy(cfg), SCHEMA))
    spec = tmp_path / "tables.json"
    spec.write_text(commands.paper_tables_json(plan, Paths(plan.results), "yang2020"))
    for name, lines in (("radius_vs_p", 7), ("linf_vs_dim", 7)):
        build_artifact(spec, name, None, tmp_path / "out")  # no count table exists
        data = read(tmp_path / "out" / "digits" / f"{name}.data.csv")
        assert data["line"].nunique() == lines  # the 7 default families (gaussian among them)
    linf = read(tmp_path / "out" / "digits" / "linf_vs_dim.data.csv").set_index(["line", "x"])["y"]
    assert linf[("Gaussian", 64)] == pytest.approx(linf[("Gaussian", 16)] / 2)  # radius / sqrt(d)


# -------------------------------------------------------------------------------- Sun
@pytest.fixture()
def sun(tmp_path: Path) -> tuple[Path, Path]:
    cfg = base_config(tmp_path)
    cfg["papers"]["sun2025"] = {
        "tables": {
            "digits": {
                "runs": ["g25", "stab25"],
                "radii": [0.0, 0.25],
                "options": {"plugin_budgets": [100, 1000, 10**8]},
            },
            "ablation": {"runs": ["g25", "stab25"], "radii": [0.0, 0.25], "artifacts": ["ablation"]},
        }
    }
    # Gaussian: every point at p = 0.9; Stability: half the points at p = 1, half wrong
    data = {"g25": (LABELS, LABELS, [900] * 10), "stab25": HALF_RIGHT}
    return build(tmp_path, cfg, "sun2025", data), tmp_path / "results" / "papers" / "sun2025"


def test_sun_ecdf_files_and_figure(sun: tuple[Path, Path]) -> None:
    spec, out = sun
    build_artifact(spec, "sun2025_pa_ecdf", None, out)
    data = read(out / "digits" / "pa_ecdf.data.csv")
    assert data["line"].nunique() == 4  # two runs x (certified correct, true label)
    released = pd.read_csv(out / "digits" / "ecdf" / "stability_0.25.csv", sep="\t")
    assert list(released.columns) == ["x", "y"] and len(released) == 501
    assert released["y"].iloc[0] == 0.5  # y(0.5) = share of certified-correct points
    gaussian = pd.read_csv(out / "digits" / "ecdf" / "gaussian_0.25.csv", sep="\t").set_index("x")["y"]
    assert gaussian[0.5] == 1.0 and gaussian[0.9] == 1.0 and gaussian[0.901] == 0.0


def test_sun_acr_budget_ranking_and_claim(sun: tuple[Path, Path]) -> None:
    spec, out = sun
    build_artifact(spec, "sun2025_acr_budget", None, out)
    table = read(out / "digits" / "acr_budget.csv")
    ranking = table[table["metric"] == "ranking"].set_index(["estimate", "budget"])["text"]
    assert ranking[("plug-in", 100)] == "Gaussian > Stability"  # 90 / 100 beats 1/2 x R_max(100)
    assert ranking[("plug-in", 10**8)] == "Stability > Gaussian"  # the cap grows like sqrt(2 ln N)
    acr = table[(table["metric"] == "acr") & (table["estimate"] == "plug-in")].set_index(["method", "budget"])["value"]
    assert acr[("stability", 10**8)] == pytest.approx(0.5 * float(bounds.max_radius(10**8, ALPHA, 0.25)), abs=1e-3)
    verdict = claims.CHECKS["ranking_changes_with_budget"](load_spec(spec).tables[0], {})
    assert verdict.status == claims.HOLDS
    verdict = claims.CHECKS["acr_up_pa_not_up"](load_spec(spec).tables[0], {"methods": ["stability"]})
    assert verdict.status == claims.HOLDS and "p_A ≥ 0.5 0.50 vs 1.00" in verdict.evidence


def test_claims_that_read_fixed_n_counts_are_not_measurable_on_sequential_runs(sun: tuple[Path, Path]) -> None:
    """A claim whose check reads p_A estimates or prefix budgets is "not measurable here" on a table
    with a sequential run (whose counts stop early) instead of failing; other checks still run."""
    import dataclasses

    spec, _ = sun
    table = load_spec(spec).tables[0]
    table.runs = [dataclasses.replace(table.runs[0], sequential={"mode": "grid"}), *table.runs[1:]]
    for check in sorted(claims.FIXED_N_CHECKS):
        assert check in claims.CHECKS
        verdict = claims.run_check(claims.Claim("c", "claim", "source", check, {"methods": ["stability"]}), table)
        assert verdict.status == claims.UNMEASURABLE and "['g25'] are sequential" in verdict.evidence
    verdict = claims.run_check(claims.Claim("c", "claim", "source", "sigma_tradeoff"), table)
    assert "sequential" not in verdict.evidence


def test_sun_table_ablation_and_sanity(sun: tuple[Path, Path]) -> None:
    spec, out = sun
    build_artifact(spec, "sun2025_table", None, out)
    table = read(out / "digits" / "table.csv")
    acr = table[table["metric"] == "acr"].set_index("method")["value"]
    clean = table[(table["metric"] == "certified_accuracy") & (table["radius"] == 0)].set_index("method")["value"]
    for method in ("gaussian", "stability"):  # ACR <= share correct x R_max
        assert acr[method] <= clean[method] * float(bounds.max_radius(N, ALPHA, 0.25)) + 1e-12
    assert build_artifact(spec, "sun2025_ablation", None, out) == ["ablation"]
    ablation = read(out / "ablation" / "ablation.csv")
    assert ablation[ablation["metric"] == "acr_change"]["value"].iloc[0] == 0.0
    with pytest.raises(ValueError, match="no table of sun2025 .* lists the artifact 'precision_recall'|no artifact"):
        build_artifact(spec, "sun2025_precision_recall", None, out)


# -------------------------------------------------------------------------------- Xin
def test_xin_tables_show_both_alpha_splits(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    costs = [{"name": "3 to 5,8,9", "num_classes": 10, "pairs": [[3, 5], [3, 8], [3, 9]]}]
    cfg["papers"]["xin2025"] = {"tables": {"digits": {"runs": ["g25"], "radii": [0.0, 0.25], "costs": costs}}}
    labels = [3] * 8 + [0, 1]
    data = {"g25": (labels, [3] * 8 + [0, 1], [700] * 10)}
    spec = build(tmp_path, cfg, "xin2025", data)
    out = tmp_path / "out"
    for name in ("standard", "cost_sensitive", "rob_cs_curves"):
        build_artifact(spec, name, None, out)
    cs = read(out / "digits" / "cost_sensitive.csv").set_index("metric")["value"]
    assert float(cs["rob_cs_reference_alpha"]) >= float(cs["rob_cs"])  # the reference's split is looser
    assert int(cs["seed_points"]) == 8
    assert read(out / "digits" / "rob_cs_curves.data.csv")["panel"].nunique() == 1
    with pytest.raises(ValueError, match="needs a table of \\['ham10000'\\]"):
        catalog.table_artifacts("xin2025", ["precision_recall"], "digits", "papers/xin2025/tables/digits/artifacts")


# ------------------------------------------------------------------ published values
def test_published_values_expand_and_attach_only_where_the_setting_matches() -> None:
    pub = load_published(REPO / "config" / "published" / "cohen2019.yaml", "cohen2019")
    keys = {"dataset": "cifar10", "method": "gaussian", "n": 100000, "metric": "certified_accuracy"}
    assert pub.find("certified_accuracy", {**keys, "sigma": 0.25, "radius": 0.5}).value == 0.43
    assert pub.find("certified_accuracy", {**keys, "sigma": 0.25, "radius": 0.5, "n": 1000}) is None
    assert (
        pub.find(
            "table1", {"dataset": "imagenet", "method": "gaussian", "n": 100000, "radius": 2.0, "metric": "sigma"}
        ).value
        == 1.0
    )
    table = PaperTable(
        "t",
        "ref",
        "settings",
        [Section("", ["run", "r"], [("a", [Cell(0.45, {**keys, "sigma": 0.25, "radius": 0.5})])])],
    )
    assert [r.value for r in attach_published(table, pub, "certified_accuracy", {})] == [0.43]
    assert "(released: 0.43, Δ +0.02)" in table.markdown()
    row = table.long().iloc[0]
    assert row["published"] == 0.43 and row["difference"] == pytest.approx(0.02) and row["published_tag"] == "released"


@pytest.mark.parametrize("paper", ["cohen2019", "yang2020", "sun2025", "xin2025"])
def test_published_files_load_with_their_tags(paper: str) -> None:
    pub = load_published(REPO / "config" / "published" / f"{paper}.yaml", paper)
    assert pub.records and all(r.artifact in {a.name for a in catalog.artifacts_of(paper)} for r in pub.records)
    if paper == "xin2025":
        assert {r.tag for r in pub.records} == {"second-hand"}
    with pytest.raises(ValueError, match="holds the values of"):
        load_published(REPO / "config" / "published" / f"{paper}.yaml", "other")


def test_record_matching_needs_every_key() -> None:
    record = Record("t", {"sigma": 0.5, "radius": 1.0}, 0.3, "s", "paper")
    assert record.matches("t", {"sigma": 0.5, "radius": 1.0, "extra": 1})
    assert not record.matches("t", {"sigma": 0.5}) and not record.matches("u", {"sigma": 0.5, "radius": 1.0})
    assert Published("p", [record]).find("t", {"sigma": 0.5 + 1e-15, "radius": 1.0}) is record


# ------------------------------------------------------------------- released logs
def logs_settings(paths: list[str], root: Path = FIXTURES / "locuslab-smoothing", **extra: Any) -> dict[str, Any]:
    return {"root": str(root), "url": None, "commit": "0" * 40, "logs": paths, "sha256": {}, **extra}


COHEN_25 = "data/certify/cifar10/resnet110/noise_0.25/test/sigma_0.25"
COHEN_50 = "data/certify/cifar10/resnet110/noise_0.50/test/sigma_0.50"


def test_fixture_logs_are_the_generators(tmp_path: Path) -> None:
    for path in write_fixtures(tmp_path):
        assert path.read_bytes() == (FIXTURES / path.relative_to(tmp_path)).read_bytes()


def test_published_logs_reproduce_the_synthetic_numbers_and_flag_another_alpha(tmp_path: Path) -> None:
    pub = load_published(REPO / "config" / "published" / "cohen2019.yaml", "cohen2019")
    table = build_published_logs("cohen2019", logs_settings([COHEN_25, COHEN_50]), pub, tmp_path / "logs")
    frame = pd.read_csv(tmp_path / "logs.csv")
    recomputed = frame[frame["quantity"] == "recomputed"].set_index(["sigma", "radius"])["value"]
    # the hand-made log: 7 correct rows, radii 0.953 0.572 0.406 0.316 0.165 0.0602 0.873
    assert [recomputed[(0.25, r)] for r in (0.25, 0.5, 0.75, 1.0)] == [0.5, 0.3, 0.2, 0.0]
    assert [recomputed[(0.5, r)] for r in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)] == [0.6, 0.5, 0.4, 0.3, 0.2, 0.2]
    printed = frame[frame["quantity"] == "printed"].set_index(["sigma", "radius"])["value"]
    assert printed[(0.25, 0.5)] == 0.43 and printed[(0.5, 1.5)] == 0.09  # Cohen's appendix table
    notes = [section.notes[0] for section in table.sections]
    assert "implied by the written radii (N = 100,000, σ = 0.25): 0.001; stated α = 0.001." in notes[0]
    assert "FLAGGED" not in notes[0] and "α flagged" not in table.sections[0].title
    assert "0.01; stated α = 0.001 -- FLAGGED" in notes[1] and "α flagged" in table.sections[1].title
    assert "not a git clone" in table.settings
    assert gfm_problems((tmp_path / "logs.md").read_text()) == []


def test_published_logs_acr_of_sun(tmp_path: Path) -> None:
    pub = load_published(REPO / "config" / "published" / "sun2025.yaml", "sun2025")
    settings = logs_settings(["data/certify/cifar10/ours/noise_0.25.tsv"], FIXTURES / "eth-sri-acr-weakness")
    build_published_logs("sun2025", settings, pub, tmp_path / "logs")
    frame = pd.read_csv(tmp_path / "logs.csv")
    acr = frame[frame["metric"] == "acr"].set_index("quantity")["value"]
    assert acr["recomputed"] == pytest.approx(0.33452) and acr["printed"] == 0.564  # (sum of 7 radii) / 10


def test_published_logs_check_files_and_commits(tmp_path: Path) -> None:
    pub = load_published(REPO / "config" / "published" / "cohen2019.yaml", "cohen2019")
    bad = logs_settings([COHEN_25], sha256={COHEN_25: "0" * 64})
    with pytest.raises(ValueError, match="sha256 .* differs"):
        build_published_logs("cohen2019", bad, pub, tmp_path / "a")
    with pytest.raises(ValueError, match="not listed in the published file"):
        build_published_logs("cohen2019", logs_settings(["nope"]), pub, tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="no such folder; clone"):
        check_clone(tmp_path / "missing", "0" * 40)
    # a git repository as the "remote": cloned at the pinned commit, then verified
    remote = tmp_path / "remote"
    shutil.copytree(FIXTURES / "locuslab-smoothing", remote)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(remote)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "logs"]):
        subprocess.run(git + args, check=True, capture_output=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    clone = tmp_path / "clone"
    settings = logs_settings([COHEN_25], clone, url=str(remote), commit=head)
    table = build_published_logs("cohen2019", settings, pub, tmp_path / "c")
    assert f"clone at commit {head} (verified)" in table.settings and (clone / COHEN_25).is_file()
    with pytest.raises(ValueError, match="not the pinned commit"):
        check_clone(clone, "1" * 40)


# ------------------------------------------------------------------ claims, catalog
@pytest.mark.parametrize("paper", ["cohen2019", "yang2020", "sun2025", "xin2025"])
def test_claim_files_name_known_checks_and_artifacts(paper: str) -> None:
    loaded = claims.load_claims(REPO / "config" / "claims" / f"{paper}.yaml", paper)
    assert loaded
    names = {a.name for a in catalog.artifacts_of(paper)}
    assert all(c.artifact in names and c.check in claims.CHECKS for c in loaded)


def test_sigma_tradeoff_holds_and_fails_on_known_data(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0}
    table = {"runs": ["g25", "g100"], "radii": [0.0, 0.5, 1.0, 2.0], "options": options}
    cfg["papers"]["cohen2019"] = {"tables": {"digits": table}}
    for data, status in (
        ({"g25": ALL_RIGHT, "g100": HALF_RIGHT}, claims.HOLDS),
        ({"g25": ALL_RIGHT, "g100": ALL_RIGHT}, claims.FAILS),
    ):
        table = load_spec(build(tmp_path, cfg, "cohen2019", data)).tables[0]
        verdict = claims.CHECKS["sigma_tradeoff"](table, {})
        assert verdict.status == status, verdict.evidence
        # sigma 0.25 can certify up to 0.62 with N = 1,000: r = 1 is the first grid radius beyond
        assert "certified accuracy at r = 1 (beyond the cap 0.62)" in verdict.evidence


def lcb(k: int, n: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound Beta(alpha; k, n - k + 1), from scipy directly."""
    from scipy.stats import beta

    return float(beta.ppf(alpha, k, n - k + 1))


def test_failing_cohen_claims_explain_themselves_with_numbers(tmp_path: Path) -> None:
    """sigma_tradeoff: a clean-accuracy tie in test points, and the lower bound on p_A the first
    radius beyond the smaller sigma's cap needs against the best one the larger sigma has; the
    paper README lists the explanation under the claim. PREDICT without abstention: not measurable."""
    from scipy.stats import norm

    cfg = base_config(tmp_path)
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0}
    table = {"runs": ["g25", "g100"], "radii": [0.0, 0.5, 1.0, 2.0], "options": options}
    cfg["papers"]["cohen2019"] = {"tables": {"digits": table}}
    # sigma 0.25: every point right with n_A = N; sigma 1: every point right with n_A = 800 of N
    spec = build(tmp_path, cfg, "cohen2019", {"g25": ALL_RIGHT, "g100": (LABELS, LABELS, [800] * 10)})
    loaded = load_spec(spec)
    verdict = claims.CHECKS["sigma_tradeoff"](loaded.tables[0], {})
    assert verdict.status == claims.FAILS
    why = verdict.explanation
    assert "clean accuracy does not fall: 1.00 vs 1.00, a tie (one point = 0.100 of 10)" in why
    assert "σ = 0.25 and 1 miss 0 and 0 of 10 test points (d = 64)" in why
    cap = float(bounds.max_radius(N, ALPHA, 0.25))
    assert f"σ = 1 certifies 0.00 at r = 1, the first grid radius beyond σ = 0.25's cap {cap:.2f}" in why
    assert f"needs a lower bound p_A ≥ Φ(r/σ) = {norm.cdf(1.0):.4f}" in why
    best = lcb(800, N, ALPHA)
    assert f"the highest among its correct points is {best:.4f} (radius {norm.ppf(best):.3f}" in why
    results = claims.evaluate([claims.Claim("tradeoff", "c", "s", "sigma_tradeoff")], loaded)
    assert list(results.columns) == claims.COLUMNS and results["explanation"].iloc[0] == why
    text = readme.write_readme(loaded, results, [], False, tmp_path / "README.md")
    explained = text.split("## What may explain a claim that does not hold here")[1]
    assert f"* **tradeoff** (table `digits`, does not hold): {why}." in explained
    # PREDICT answers every point at both budgets (100 and 1,000): no abstention that could fall
    verdict = claims.CHECKS["predict_abstention_falls"](loaded.tables[0], {})
    assert verdict.status == claims.UNMEASURABLE and "0.00 at N = 100, 0.00 at N = 1,000" in verdict.evidence
    assert "the least unanimous of its 10 test points has n1 = " in verdict.explanation
    assert "PREDICT answers" in verdict.explanation
    # a claim not measurable for want of runs: its evidence is its explanation, listed in the README
    one_sigma = claims.evaluate([claims.Claim("one", "c", "s", "sigma_tradeoff", {"method": "stability"})], loaded)
    assert one_sigma["explanation"].iloc[0] == one_sigma["evidence"].iloc[0] == "needs runs at two sigmas, got []"
    text = readme.write_readme(loaded, one_sigma, [], False, tmp_path / "README.md")
    assert "* **one** (table `digits`, not measurable here): needs runs at two sigmas, got []." in text


def test_failing_yang_claim_names_each_sigmas_cap_and_accuracy(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    model = {"dataset": "digits", "arch": "digits_cnn", "recipe": "r"}
    runs = {"u25": ("uniform", 0.25), "u50": ("uniform", 0.5), "lap50": ("laplace", 0.5)}
    for name, (noise, sigma) in runs.items():
        cfg["models"][name] = {**model, "noise": noise, "sigma": sigma}
        cfg["certify"][name] = {"model": name, "n0": 10, "n": N, "examples": {"stop": 10}}
    table = {"runs": list(runs), "norm": "l1", "radii": [0.0, 0.25, 0.5]}
    cfg["papers"]["yang2020"] = {"tables": {"digits": table}}
    # Uniform: 5 of 10 right at both sigmas, p = 1; Laplace: all 10 right at p = 1
    data = {"u25": HALF_RIGHT, "u50": HALF_RIGHT, "lap50": ALL_RIGHT}
    verdict = claims.CHECKS["envelope_dominates"](
        load_spec(build(tmp_path, cfg, "yang2020", data)).tables[0], {"better": "uniform", "worse": "laplace"}
    )
    assert verdict.status == claims.FAILS
    cap25 = 2 * np.sqrt(3) * 0.25 * (ALPHA ** (1 / N) - 0.5)  # Uniform's l1 radius at LCB(N of N) = 0.43
    assert verdict.explanation == (
        "r = 0.25: Uniform 0.50 at σ = 0.25 (clean accuracy 0.50) vs Laplace 1.00 at σ = 0.5 (clean accuracy "
        "1.00); 0.50 vs 1.00, 5 test points apart (one point = 0.100 of 10); "
        f"r = 0.5: Uniform 0.50 at σ = 0.5 (clean accuracy 0.50), its σ = 0.25 (cap {cap25:.2f}) cannot reach r "
        "vs Laplace 1.00 at σ = 0.5 (clean accuracy 1.00); 0.50 vs 1.00, 5 test points apart (one point = 0.100 of 10)"
    )


def test_failing_sun_claim_counts_the_hard_points(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["papers"]["sun2025"] = {"tables": {"digits": {"runs": ["g25", "stab25"], "radii": [0.0, 0.25]}}}
    # Gaussian: 5 of 10 right (true-label p_A 0 for the others; ACR 0.31); Stability: all right at p = 0.98 (ACR 0.45)
    spec = build(tmp_path, cfg, "sun2025", {"g25": HALF_RIGHT, "stab25": (LABELS, LABELS, [980] * 10)})
    verdict = claims.CHECKS["acr_up_pa_not_up"](load_spec(spec).tables[0], {"methods": ["stability"]})
    assert verdict.status == claims.FAILS
    assert verdict.explanation == (
        "Stability σ = 0.25 raises ACR and the share of p_A ≥ 0.5: 1.00 vs 0.50, 5 test points apart (one point = "
        "0.100 of 10); Gaussian training leaves 5 of 10 test points below p_A = 0.5 "
        "(the hard points the claim is about)"
    )


def test_cost_sensitive_shortfall_is_explained_by_the_alpha_split(tmp_path: Path) -> None:
    """Seed points with n_A = N: the standard certificate reaches sigma Phi^-1(alpha^(1/N)), ours
    (alpha/2 for p_A, alpha/(2|Omega|) per target) max(sigma Phi^-1((alpha/2)^(1/N)), sigma/2
    [Phi^-1((alpha/2)^(1/N)) + Phi^-1((alpha/18)^(1/N))]); a radius between the two is certified
    by the standard certificate only, and the reference code's accounting certifies it."""
    from scipy.stats import norm

    sigma, omega = 0.25, 9
    standard = sigma * norm.ppf(ALPHA ** (1 / N))
    p_a = norm.ppf((ALPHA / 2) ** (1 / N))
    ours = max(sigma * p_a, sigma / 2 * (p_a + norm.ppf((ALPHA / (2 * omega)) ** (1 / N))))
    eps = round((standard + ours) / 2, 4)
    assert ours < eps < standard
    cfg = base_config(tmp_path)
    costs = [{"name": "s-seed 3", "num_classes": 10, "pairs": [[3, j] for j in range(10) if j != 3]}]
    cfg["papers"]["xin2025"] = {"tables": {"digits": {"runs": ["g25"], "radii": [0.0, eps], "costs": costs}}}
    spec = build(tmp_path, cfg, "xin2025", {"g25": ([3] * 10, [3] * 10, [N] * 10)})
    verdict = claims.CHECKS["cs_at_least_standard"](load_spec(spec).tables[0], {})
    assert (
        verdict.status == claims.FAILS and f"smallest margin -1.000 at r = {eps:g} (0.00 vs 1.00)" in verdict.evidence
    )
    why = verdict.explanation
    assert f"at r = {eps:g} the standard certificate certifies 10 of the 10 seed points (one = 0.100) that" in why
    assert f"n_A/N = 1.000: standard radius {standard:.3f}, cost-sensitive {ours:.3f}" in why
    assert (
        f"|Ω| = 9 targets: at n_A = N = 1,000 it reaches {ours:.3f} where the standard one reaches {standard:.3f}"
        in why
    )
    assert "Under the reference code's accounting (the max with the standard radius at the full α" in why
    assert why.endswith("Rob_cs is 1.00 against 1.00")


def test_every_artifact_has_a_builder_and_options_are_checked() -> None:
    import importlib

    for paper, artifacts in catalog.ARTIFACTS.items():
        builders = importlib.import_module(f"randsmooth.papers.{paper}").BUILDERS
        assert set(builders) == {a.name for a in artifacts}
    with pytest.raises(ValueError, match="'w/bogus' is not an option of sun2025"):
        catalog.resolve_options("sun2025", {"bogus": 1}, "w")
    with pytest.raises(ValueError, match="'w/epsilon': expected a value like 0.5"):
        catalog.resolve_options("xin2025", {"epsilon": "half"}, "w")
    assert catalog.table_artifacts("sun2025", None, "digits", "w") == [
        "table",
        "pa_ecdf",
        "pa_histogram",
        "radius_cap",
        "acr_budget",
        "acr_budget_figure",
    ]


def test_index_shows_only_the_settings_that_differ() -> None:
    spec = {
        "rows": [
            {
                "kind": "run",
                "name": "a",
                "folder": "f/a",
                "family": "model m",
                "settings": {"n": 100, "sigma": 0.5, "seed": 0},
            },
            {
                "kind": "run",
                "name": "b",
                "folder": "f/b",
                "family": "model m",
                "settings": {"n": 1000, "sigma": 0.5, "seed": 0},
            },
        ],
        "used_runs": ["a"],
    }
    frame = index_frame(spec)
    assert frame["settings"].tolist() == ["n=100", "n=1000"] and frame["used"].tolist() == [True, False]


def test_paper_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--spec", str(tmp_path / "none.json"), "--artifact", "cohen2019_table1", "--out-dir", str(tmp_path)]
    assert paper_cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "none.json: no such file" in err[0]


# ------------------------------------------------------------------ readable figures
def default_config_paper(tmp: Path, paper: str, tables: list[str] | None = None) -> tuple[Path, Path]:
    """The default config's tables of ``paper`` (default: all) with synthetic counts: run i of the
    paper puts 1000 - 40 i of N samples on the true class of every point but its last i % 10 (wrong)."""
    cfg = config.load(REPO / "config" / "config.yaml", SCHEMA)
    cfg["results"] = str(tmp / "results")
    cfg["papers"] = {paper: cfg["papers"][paper]}
    if tables is not None:
        cfg["papers"][paper]["tables"] = {t: cfg["papers"][paper]["tables"][t] for t in tables}
    runs = dict.fromkeys(r for t in cfg["papers"][paper]["tables"].values() for r in t["runs"])
    data = {}
    for i, run in enumerate(runs):
        wrong = i % 10
        top = [y if y < 10 - wrong else (y + 1) % 10 for y in LABELS]
        data[run] = (LABELS, top, [N - 40 * i] * 10)
    return build(tmp, cfg, paper, data), tmp / "results" / "papers" / paper


def figure_artifacts(paper: str) -> list[str]:
    return [a.name for a in catalog.artifacts_of(paper) if a.kind == "figure" and not a.opt_in]


def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Any]]:
    """Every figure PaperFigure.write writes from now on: its stem and the drawn matplotlib figure."""
    from randsmooth.papers import figures

    out: list[tuple[Path, Any]] = []
    write, render = figures.PaperFigure.write, figures.PaperFigure.render

    def recording(self: figures.PaperFigure, stem: str | Path) -> list[Path]:
        out.append((Path(stem), None))
        return write(self, stem)

    def keeping(self: figures.PaperFigure) -> Any:  # noqa: ANN401 (matplotlib Figure)
        out[-1] = (out[-1][0], render(self))
        return out[-1][1]

    monkeypatch.setattr(figures.PaperFigure, "write", recording)
    monkeypatch.setattr(figures.PaperFigure, "render", keeping)
    return out


@pytest.mark.parametrize("paper", ["sun2025", "xin2025"])
def test_many_method_figures_are_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paper: str) -> None:
    """Sun et al.'s 11 trainers (22 curves in the p_A ECDF and ACR-vs-budget figures) and Xin et
    al.'s 6: no legend overlaps any axes (window extents) in any figure of the paper, at most 8 lines
    per panel; in the method comparisons one colour per method in every figure and distinct colours
    within a panel (the per-sigma figures colour by sigma)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_hex

    tables = ["methods"] if paper == "sun2025" else None  # Sun et al.'s 11 trainers; all of Xin et al.'s
    spec, out = default_config_paper(tmp_path, paper, tables)
    figs = drawn(monkeypatch)
    for name in figure_artifacts(paper):
        build_artifact(spec, name, None, out)
    assert len(figs) == len(figure_artifacts(paper)) * (3 if paper == "xin2025" else 1)  # one per table
    colour_of: dict[str, str] = {}
    for stem, fig in figs:
        FigureCanvasAgg(fig).draw()  # write closed it: a fresh canvas, the same layout
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            assert len(ax.get_lines()) <= 8, ax.get_title()
            legend = ax.get_legend()
            box = legend.get_window_extent(renderer)
            for other in fig.axes:  # no legend over any data area or axis labels
                assert not box.overlaps(other.get_window_extent(renderer)), (ax.get_title(), other.get_title())
                for axis in (other.xaxis, other.yaxis):
                    assert not box.overlaps(axis.get_tightbbox(renderer)), (ax.get_title(), other.get_title())
            assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
            if not stem.parent.name.startswith("methods"):
                continue
            colours = {}
            for line in ax.get_lines():
                if not line.get_label().startswith(("_", "σ")):  # not the radius cap's sigma lines
                    method = line.get_label().split(",")[0]
                    colours[method] = to_hex(line.get_color())
                    assert colour_of.setdefault(method, colours[method]) == colours[method], method
            assert len(set(colours.values())) == len(colours), ax.get_title()
    methods = {label.split(",")[0] for label in colour_of}
    assert len(methods) == (11 if paper == "sun2025" else 6), sorted(methods)
    if paper == "sun2025":
        ecdf = read(out / "methods" / "pa_ecdf.data.csv")
        assert ecdf["line"].nunique() == 22 and ecdf["panel"].nunique() >= 3  # 11 runs x 2 readings, faceted
        assert all("Gaussian" in " ".join(p["line"]) for _, p in ecdf.groupby("panel"))  # the baseline in each


def test_facets_keep_keys_together_and_layout_check_fails_on_a_legend_inside() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from randsmooth.papers import figures

    lines = [figures.Line("base", [0, 1], [0, 1], key="b", reference=True)]
    lines += [
        figures.Line(f"m{i}", [0, 1], [0, i], key=f"m{i}", family=f"f{i // 5}", variant=v)
        for i in range(9)
        for v in (0, 1)
    ]
    panels = figures.facets(figures.Panel("t", "x", "y", lines))
    # families f0 (m0-m4: 10 lines) and f1 (m5-m8: 8 lines), room 7 beside the reference: balanced chunks
    assert [len(p.lines) for p in panels] == [7, 5, 5, 5]
    assert [p.title for p in panels] == ["t — f0 (1/2)", "t — f0 (2/2)", "t — f1 (1/2)", "t — f1 (2/2)"]
    for panel in panels:
        assert panel.lines[0].label == "base" and len(panel.lines) <= figures.MAX_LINES
        keys = [line.key for line in panel.lines[1:]]
        assert all(keys.count(k) == 2 for k in keys)  # both readings of a key in one facet
    assert sorted({line.key for p in panels for line in p.lines[1:]}) == sorted(f"m{i}" for i in range(9))
    long = "Uniform + Stability (best of σ = 0.12, 0.25, 0.5; degenerate σ = 1 left out), trained at σ = 0.25 " * 2
    wide = figures.PaperFigure("t", [figures.Panel("p", "x", "y", [figures.Line(long, [0, 1], [0, 1])])])
    drawn_wide = wide.render()
    assert figures.layout_problems(drawn_wide) == []  # wrapped: inside the figure, below the axes
    plt.close(drawn_wide)
    fig, ax = plt.subplots(figsize=(4, 3))
    for i in range(9):
        ax.plot([0, 1], [0, i], label=f"line {i}")
    ax.set_xlabel("radius")
    ax.legend(loc="center")
    fig.canvas.draw()
    problems = figures.layout_problems(fig)
    plt.close(fig)
    assert any("overlaps the panel 1 ('') data area" in p for p in problems)
    assert any("has 9 lines" in p for p in problems)


# ------------------------------------------------------------------ degenerate models
CONSTANT = (LABELS, [0] * 10, [N] * 10)  # predicts class 0 everywhere with p = 1: clean accuracy 0.1 = chance


def test_degenerate_rows_are_marked_never_bold_and_their_claims_not_measurable(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    options = {"vary_train_noise_sigma": 1.0, "high_prob_sigma": 1.0}  # the defaults, 0.5, have no run here
    table = {"runs": ["g25", "g100"], "radii": [0.0, 0.5, 1.0, 2.0], "options": options}
    cfg["papers"]["cohen2019"] = {"tables": {"digits": table}}
    spec = build(tmp_path, cfg, "cohen2019", {"g25": HALF_RIGHT, "g100": CONSTANT})
    table = load_spec(spec).tables[0]
    g25, g100 = table.runs
    assert not table.degenerate(g25) and table.degenerate(g100)  # 0.5 vs 0.1 <= 0.1 + 0.05
    out = tmp_path / "out"
    build_artifact(spec, "cohen2019_certified_accuracy", None, out)
    ca = read(out / "digits" / "certified_accuracy.csv")
    assert ca.groupby("row")["degenerate"].first().to_dict() == {
        "Gaussian, σ = 0.25": False,
        "Gaussian, σ = 1 (degenerate)": True,
    }
    # the constant classifier certifies its 1 correct point at every radius: r = 2 is 0.1 vs 0.0,
    # yet it is not bold there, and the table states the rule
    got = ca.set_index(["sigma", "radius"])["value"]
    assert got[(1.0, 2.0)] == 0.1 and got[(0.25, 2.0)] == 0.0
    md = (out / "digits" / "certified_accuracy.md").read_text()
    row = next(line for line in md.splitlines() if "(degenerate)" in line)
    assert "**" not in row and "Rows marked (degenerate): clean accuracy (certified" in md
    build_artifact(spec, "cohen2019_table1", None, out)
    table1 = read(out / "digits" / "table1.csv")
    assert set(table1[table1["metric"] == "sigma"]["value"]) == {0.25}  # σ = 1 is not the best σ anywhere
    assert "Not a candidate for the best σ: degenerate" in (out / "digits" / "table1.md").read_text()
    claim = claims.Claim("c", "larger sigma trades accuracy for radius", "Sec. 4", "sigma_tradeoff")
    verdict = claims.run_check(claim, table)
    assert verdict.status == claims.UNMEASURABLE
    assert verdict.evidence.startswith("degenerate, clean accuracy at chance level: Gaussian, σ = 1 (clean")
    assert "the check found: holds" in verdict.evidence  # it "holds" on the constant classifier: not evidence
    assert (
        claims.run_check(claims.Claim("p", "x", "s", "predict_abstention_falls"), table).status == claims.UNMEASURABLE
    )


def test_xin_rob_cs_beside_clean_accuracy_and_degenerate_runs_left_out_of_the_figure(tmp_path: Path) -> None:
    """A constant classifier that never predicts a costly class has Rob_cs 1 by construction."""
    cfg = base_config(tmp_path)
    costs = [{"name": "3 to 5", "num_classes": 10, "pairs": [[3, 5]]}]
    table = {"runs": ["g25", "stab25", "g100"], "radii": [0.0, 0.25], "costs": costs}
    cfg["papers"]["xin2025"] = {"tables": {"digits": table}}
    labels = [3] * 5 + [0, 1, 2, 4, 6]
    good = (labels, [3, 3, 3, 5, 5, 0, 1, 2, 4, 6], [N] * 10)  # 8 of 10 right; 2 of 5 seeds -> 5 (costly)
    data = {"g25": good, "stab25": (labels, [0] * 10, [N] * 10), "g100": (labels, labels, [N] * 10)}
    spec = build(tmp_path, cfg, "xin2025", data)
    out = tmp_path / "out"
    for name in ("cost_sensitive", "rob_cs_curves"):
        build_artifact(spec, name, None, out)
    cs = read(out / "digits" / "cost_sensitive.csv").set_index(["row", "metric"])["value"]
    assert cs[("Gaussian, σ = 0.25", "clean_accuracy")] == 0.8 and cs[("Gaussian, σ = 0.25", "rob_cs")] == 0.6
    constant = "Stability, σ = 0.25 (degenerate)"  # chance 0.5 (five 3s), accuracy 0.1
    assert cs[(constant, "clean_accuracy")] == 0.1 and cs[(constant, "rob_cs")] == 1.0
    md = (out / "digits" / "cost_sensitive.md").read_text()
    assert "| run | Acc | Rob_cs, ε = 0.5 |" in md
    # the constant classifier ties the best Rob_cs (1.00) but is never bold
    assert "| Gaussian, σ = 0.25 | 0.80 | 0.60 |" in md and "| Gaussian, σ = 1 | **1.00** | **1.00** |" in md
    assert "| Stability, σ = 0.25 (degenerate) | 0.10 | 1.00 |" in md
    data = read(out / "digits" / "rob_cs_curves.data.csv")
    assert set(data["line"]) == {"Gaussian, σ = 0.25", "Gaussian, σ = 1"}


def test_yang_envelope_leaves_degenerate_sigmas_out(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    cfg["papers"]["yang2020"] = {"tables": {"digits": {"runs": ["g25", "g100"], "norm": "l1", "radii": [0.0, 3.0]}}}
    spec = build(tmp_path, cfg, "yang2020", {"g25": HALF_RIGHT, "g100": CONSTANT})
    out = tmp_path / "out"
    build_artifact(spec, "yang2020_table1", None, out)
    table = read(out / "digits" / "table1.csv")
    ca = table[table["metric"] == "certified_accuracy"].set_index("radius")["value"]
    assert ca[3.0] == 0.0 and ca[0.0] == 0.5  # σ = 1's constant 0.1 at r = 3 is not the envelope
    assert "Left out of the envelope: degenerate" in (out / "digits" / "table1.md").read_text()
    build_artifact(spec, "yang2020_envelope_l1", None, out)
    lines = set(read(out / "digits" / "envelope_l1.data.csv")["line"])
    assert lines == {"Gaussian (best of σ = 0.25; degenerate σ = 1 left out)"}
