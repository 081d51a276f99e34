"""End to end on the tiny CI config, on the CPU: every rule runs, a run killed during certification
resumes (only the unfinished shards run again, the interrupted one from its progress file), outputs
are complete, the report builds, and failures give clear errors.

One pipeline run serves most checks (it takes about 1.5 minutes on 2 cores):

* it uses config/ci.yaml with hostile names -- a results folder, data folder, GPU lock folder and
  model/run names containing spaces, quotes, ``;``, ``$(...)`` -- which must reach the commands
  verbatim and never execute anything;
* it is started as the README says (``snakemake --cores all --configfile ...``, no profile), and
  SIGKILLed (Snakemake and every job process) once one shard is finished and another has written
  progress rows; then the README's recovery runs exactly as documented: ``snakemake --unlock``,
  then the same command;
* the interrupted shard is compared with an uninterrupted certification of the same shard.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from randsmooth import bounds
from randsmooth.counts import read_table, samples_used
from randsmooth.papers import catalog
from randsmooth.papers.data import load_spec
from randsmooth.pipeline.config import validate
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import Plan
from randsmooth.shards import PROGRESS_SUFFIX
from workflow_run import run_snakemake, snakemake_env, start_snakemake

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SCHEMA = REPO / "config" / "schema.yaml"
CI_CONFIG = REPO / "config" / "ci.yaml"
CI_PROFILE = REPO / "workflow" / "profiles" / "ci"
RUN_TIMEOUT_S = 420
SETTLE_S = 2.0
HOSTILE = " a'b; touch INJECTED $(touch INJECTED2) `touch INJECTED3`"


def run(workdir: Path, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, *args, timeout=timeout)


def hostile_config(tmp: Path) -> dict[str, Any]:
    """config/ci.yaml with hostile folder and entry names (same models and runs, so same keys)."""
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["results"] = "res" + HOSTILE
    cfg["data_root"] = str(tmp / ("data" + HOSTILE))
    # exercise the gpu-lease wrapper (a no-op without a GPU); on a GPU machine stay on the CPU, where
    # shards are slow enough to be caught in progress
    cfg["device"] = "cpu" if _has_gpu() else "auto"
    cfg["gpu"] = {"lock_dir": str(tmp / ("locks" + HOSTILE))}
    rename = {"gauss": "gauss" + HOSTILE}
    cfg["models"] = {rename.get(k, k): v for k, v in cfg["models"].items()}
    for model in cfg["models"].values():  # a teacher is named like any model
        params = model.get("method", {}).get("params", {})
        if "teacher" in params:
            params["teacher"] = rename.get(params["teacher"], params["teacher"])
    cfg["certify"] = {rename.get(k, k): v for k, v in cfg["certify"].items()}
    for run_cfg in cfg["certify"].values():
        run_cfg["model"] = rename.get(run_cfg["model"], run_cfg["model"])
    for paper in cfg["papers"].values():
        for table in paper["tables"].values():
            table["runs"] = [rename.get(r, r) for r in table["runs"]]
    cfg["papers"]["xin2025"]["tables"]["digits"]["costs"][0]["name"] = "digit 3 -> 5" + HOSTILE
    return cfg


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL Snakemake and every process it started (jobs run in their own sessions)."""
    victims = [proc.pid, *descendants(proc.pid)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def shard_state(results: Path) -> tuple[dict[Path, float], list[Path]]:
    """(finished shard -> mtime, progress files with at least one row of a running shard)."""
    finished = {p: p.stat().st_mtime for p in results.glob("certify/*/shards/*.parquet")}
    running = []
    for progress in results.glob(f"certify/*/shards/*{PROGRESS_SUFFIX}"):
        parquet = progress.with_name(progress.name[: -len(PROGRESS_SUFFIX)])
        try:
            lines = progress.read_text().count("\n")
        except OSError:
            continue
        if lines >= 2 and not parquet.exists():
            running.append(progress)
    return finished, running


def job_counts(output: str) -> dict[str, int]:
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return {}
    counts = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run, kill during certification, unlock, rerun; return what the tests need."""
    tmp = tmp_path_factory.mktemp("e2e")
    workdir = tmp / "work"
    workdir.mkdir()
    cfg = hostile_config(tmp)
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    plan = Plan(validate(copy.deepcopy(cfg), SCHEMA))
    results = workdir / plan.results
    args = ("--cores", "all", "--configfile", str(config_path))  # the README's command, no profile

    started = time.monotonic()
    proc = start_snakemake(workdir, *args)
    finished: dict[Path, float] = {}
    running: list[Path] = []
    seen: dict[Path, float] = {}  # shard -> when its file first appeared
    unsettled: set[Path] = set()
    try:
        while time.monotonic() - started < RUN_TIMEOUT_S and proc.poll() is None:
            finished, running = shard_state(results)
            now = time.monotonic()
            seen.update({path: now for path in finished if path not in seen})
            seen.update({path: now for path in results.glob("models/*/final.pt") if path not in seen})
            # Jobs run two at a time: wait until Snakemake has surely registered a finished shard
            # (a shard cut off between writing its file and being registered runs again).
            settled = {path: mtime for path, mtime in finished.items() if now - seen[path] >= SETTLE_S}
            if settled and running:
                finished, unsettled = settled, set(finished) - set(settled)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    first_output = proc.stdout.read() if proc.stdout else ""
    assert finished and running, f"could not catch a shard in progress:\n{first_output[-3000:]}"
    rows_before = {p: p.read_text().count("\n") - 1 for p in running}
    models = {p: p.stat().st_mtime for p in results.glob("models/*/final.pt")}
    # a model whose final.pt appeared just before the kill may not be registered as done: it may
    # train again (the same race as a shard's, see above)
    now = time.monotonic()
    unsettled_models = {p for p in models if now - seen.get(p, now) < SETTLE_S}
    training = [p.parent for p in results.glob("models/*/checkpoint.pt") if not (p.parent / "final.pt").exists()]

    unlock = run(workdir, "--unlock")  # the README's recovery, exactly
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = run(workdir, *args)
    return {
        "tmp": tmp,
        "workdir": workdir,
        "config": config_path,
        "args": args,
        "plan": plan,
        "paths": Paths(str(workdir / plan.results)),
        "results": results,
        "finished": finished,
        "unsettled": unsettled,
        "interrupted": running,
        "rows_before": rows_before,
        "models": models,
        "unsettled_models": unsettled_models,
        "training": training,
        "first_output": first_output,
        "rerun": rerun,
    }


def test_rerun_succeeds_and_nothing_was_injected(pipeline: dict[str, Any]) -> None:
    rerun = pipeline["rerun"]
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    injected = [p for p in pipeline["tmp"].rglob("INJECTED*")]
    assert injected == []


def test_every_rule_is_exercised(pipeline: dict[str, Any]) -> None:
    planned = job_counts(pipeline["first_output"])
    plan, paths = pipeline["plan"], pipeline["paths"]
    papers = {a.target for p in plan.papers for a in paths.artifacts(plan, p)}
    papers |= {f"{p}_readme" for p in plan.papers} | {"cohen2019_published_logs", "sun2025_published_logs", "index"}
    assert papers >= {f"{a.paper}_{a.name}" for p in plan.papers for a in catalog.artifacts_of(p) if not a.datasets}
    assert set(planned) == papers | {
        "prepare_data",
        "model_recipe",
        "run_settings",
        "soft_targets",
        "train",
        "certify_shard",
        "merge",
        "metrics_variant",
        "metrics",
        "paper_tables",
        "paper_summary",
        "summary",
        "all",
    }, planned


def test_only_unfinished_work_reruns(pipeline: dict[str, Any]) -> None:
    rerun = pipeline["rerun"]
    counts = job_counts(rerun.stdout + rerun.stderr)
    plan = pipeline["plan"]
    total_shards = sum(plan.run(k).shards for k in plan.used_runs())
    rerun_shards = total_shards - len(pipeline["finished"])
    assert rerun_shards - len(pipeline["unsettled"]) <= counts.get("certify_shard") <= rerun_shards, counts
    # a model still training at the kill trains again (resuming from its checkpoint); no other one
    # (one that finished within SETTLE_S of the kill may, as a shard may)
    untrained = len(plan.used_models()) - len(pipeline["models"])
    assert untrained <= counts.get("train", 0) <= untrained + len(pipeline["unsettled_models"]), counts
    for rule in ("model_recipe", "prepare_data"):
        assert rule not in counts, counts
    settled_models = {p: t for p, t in pipeline["models"].items() if p not in pipeline["unsettled_models"]}
    for path, mtime in {**pipeline["finished"], **settled_models}.items():
        assert path.stat().st_mtime == mtime, f"{path} was recomputed"


def test_interrupted_training_resumed_from_its_checkpoint(pipeline: dict[str, Any]) -> None:
    """A model killed after an epoch's checkpoint continues from it (often none is caught)."""
    paths = pipeline["paths"]
    for folder in pipeline["training"]:
        log = Path(paths.log("train", f"{folder.name}.log")).read_text()
        assert re.search(r"resuming .*checkpoint\.pt after epoch \d+ of 2", log), log[-2000:]


def test_interrupted_shard_resumed_from_its_progress_file(pipeline: dict[str, Any]) -> None:
    paths, results = pipeline["paths"], pipeline["results"]
    for progress in pipeline["interrupted"]:
        assert not progress.exists()
        run_key, shard = progress.parent.parent.name, progress.name.split(".")[0]
        log = Path(paths.log("certify_shard", f"{run_key}/{shard}.log")).read_text()
        match = re.search(r"resuming, (\d+) of (\d+) examples already done", log)
        assert match, log[-2000:]
        assert int(match.group(1)) >= min(1, pipeline["rows_before"][progress])
    assert not list(results.rglob(f"*{PROGRESS_SUFFIX}"))


def test_every_output_exists_and_is_complete(pipeline: dict[str, Any]) -> None:
    plan, paths = pipeline["plan"], pipeline["paths"]
    for target in paths.final_targets(plan):
        assert Path(target).is_file(), target
    for key in plan.used_runs():
        table, run = read_table(paths.counts.format(run=key)), plan.run(key)
        assert table["idx"].tolist() == list(range(0, 450, run.skip))
        drawn = np.stack(table["counts_estimation"]).sum(axis=1)
        assert (drawn == samples_used(table)).all() and (drawn <= run.n).all()
        assert (drawn == run.n).all() or run.sequential is not None
        for shard in range(plan.run(key).shards):
            assert Path(paths.log("certify_shard", f"{key}/{shard}.log")).is_file()
            assert Path(paths.benchmark("certify_shard", f"{key}/{shard}.tsv")).is_file()
    for key in plan.used_models():
        assert Path(paths.benchmark("train", f"{key}.tsv")).is_file()
        assert Path(paths.log("train", f"{key}.log")).is_file()
    summary = Path(paths.summary_csv).read_text()
    assert "gauss" + HOSTILE in summary  # names reach the tables verbatim
    specs = [json.loads(p.read_text()) for p in pipeline["results"].glob("certify/*/metrics/*.json")]
    assert "digit 3 -> 5" + HOSTILE in {spec.get("cost", {}).get("name") for spec in specs}


def test_resumed_shard_equals_an_uninterrupted_one(pipeline: dict[str, Any], tmp_path: Path) -> None:
    """Certify the interrupted shard again from scratch, outside the workflow, and compare counts."""
    plan, paths = pipeline["plan"], pipeline["paths"]
    progress = pipeline["interrupted"][0]
    run_key, shard = progress.parent.parent.name, int(progress.name.split(".")[0])
    reference = tmp_path / "reference.parquet"
    run = plan.run(run_key)
    cmd = [
        *(sys.executable, "-m", "randsmooth", "certify", "--run", paths.run_settings.format(run=run_key)),
        *("--checkpoint", paths.weights.format(model=run.model_key), "--data-root", run.dataset.root),
        *("--shard", str(shard), "--batch", "123", "--device", "cpu", "--no-progress", "--out", str(reference)),
    ]
    subprocess.run(cmd, env=snakemake_env(), check=True, capture_output=True, timeout=300)
    expected = read_table(reference)
    merged = read_table(paths.counts.format(run=run_key)).set_index("idx").loc[expected["idx"]]
    for column in ("counts_selection", "counts_estimation", "counts_prefix"):
        assert all(np.array_equal(a, b) for a, b in zip(expected[column], merged[column], strict=True)), column


def test_report_builds(pipeline: dict[str, Any]) -> None:
    report = pipeline["results"] / "report.zip"
    result = run(pipeline["workdir"], "--configfile", str(pipeline["config"]), "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    archive = zipfile.ZipFile(report)
    names = archive.namelist()
    assert sum(name.endswith("summary.csv") for name in names) == 1 + len(pipeline["plan"].papers)
    assert any(name.endswith(".csv") and "summary" not in name for name in names)
    assert any(name.endswith("vary_sigma.png") for name in names) and any(name.endswith("table1.csv") for name in names)
    html = archive.read(next(n for n in names if n.endswith("report.html"))).decode()
    for text in ("Cohen et al. 2019, Table 1.", "papers/cohen2019/tables/{digits}", "abstentions count as wrong"):
        assert text in html, text


# ------------------------------------------------------------------ paper artifacts
def gfm_valid(markdown: str) -> bool:
    from test_papers import gfm_problems

    return gfm_problems(markdown) == []


def artifact_frame(paths: Paths, paper: str, name: str, suffix: str = ".csv") -> pd.DataFrame:
    return pd.read_csv(Path(paths.paper_dir(paper)) / "digits" / f"{name}{suffix}")


def test_every_paper_target_exists_and_markdown_is_valid(pipeline: dict[str, Any]) -> None:
    plan, paths = pipeline["plan"], pipeline["paths"]
    for paper in plan.papers:
        for target in paths.paper_targets(plan, paper):
            assert Path(target).stat().st_size > 0, target
            if target.endswith(".md"):
                assert gfm_valid(Path(target).read_text()), target
            if target.endswith(".tex"):
                assert r"\toprule" in Path(target).read_text(), target
    assert gfm_valid(Path(paths.index_md).read_text())
    index = pd.read_csv(paths.index_csv)
    assert set(index["name"]) >= set(plan.run_names) | set(plan.model_names)


def test_paper_tables_are_sane(pipeline: dict[str, Any]) -> None:
    paths = pipeline["paths"]
    ca = artifact_frame(paths, "cohen2019", "certified_accuracy")
    for _, row in ca.groupby("row"):
        values = row.sort_values("radius")["value"].to_numpy()
        assert (np.diff(values) <= 0).all() and values.max() <= values[0]  # non-increasing, <= clean accuracy
    sun = artifact_frame(paths, "sun2025", "table")
    for (_, sigma, n), row in sun.groupby(["method", "sigma", "n"]):
        curve = row[row["metric"] == "certified_accuracy"].sort_values("radius")["value"].to_numpy()
        acr = row[row["metric"] == "acr"]["value"].iloc[0]
        assert (np.diff(curve) <= 0).all()
        assert acr <= curve[0] * float(bounds.max_radius(int(n), 0.001, sigma)) + 1e-12  # ACR <= correct x R_max
        ecdf = artifact_frame(paths, "sun2025", "pa_ecdf", ".data.csv")
        paper_reading = ecdf[(ecdf["variant"] == 0) & (ecdf["x"] == 0.5)]["y"]
        assert paper_reading.tolist() == pytest.approx([curve[0]])  # y(0.5) = share certified correct
    xin = artifact_frame(paths, "xin2025", "cost_sensitive")
    by = xin.pivot_table(index="section", columns="metric", values="value")
    assert (by["rob_cs_reference_alpha"] >= by["rob_cs"]).all()


def test_sequential_samples_table_against_the_count_tables(pipeline: dict[str, Any]) -> None:
    """ci.yaml's sequential run and its fixed-N twin: the samples table's numbers recomputed from the
    two count tables (samples per row, certified accuracy by decide.certify), and the histogram."""
    from randsmooth import decide, metrics

    plan, paths = pipeline["plan"], pipeline["paths"]
    folder = Path(paths.paper_dir("cohen2019")) / "sequential"
    frame = pd.read_csv(folder / "samples.csv")
    seq_name, fixed_name = "gauss_seq", "gauss_twin"
    seq_table, fixed_table = (read_table(paths.counts.format(run=plan.run_names[n])) for n in (seq_name, fixed_name))
    used = samples_used(seq_table)
    assert (used == [int(np.asarray(b)[-1]) for b in seq_table["prefix_budgets"]]).all() and used.min() < 2000
    assert (samples_used(fixed_table) == 2000).all()
    # at every budget both recorded (the twin's prefix budgets, max N) the two runs have the same counts
    compared = 0
    for budgets, prefix, full_b, full_p in zip(
        seq_table["prefix_budgets"],
        seq_table["counts_prefix"],
        fixed_table["prefix_budgets"],
        fixed_table["counts_prefix"],
        strict=True,
    ):
        at = {int(b): np.asarray(c).tolist() for b, c in zip(full_b, full_p, strict=True)}
        for b, c in zip(budgets, prefix, strict=True):
            if int(b) in at:
                assert at[int(b)] == np.asarray(c).tolist()
                compared += 1
    assert compared >= (used == 2000).sum() > 0
    rows = {row: group.set_index("metric") for row, group in frame.groupby("row")}
    seq_row = rows[next(r for r in rows if r.startswith("sequential"))]
    fixed_row = rows["fixed N = 2,000"]
    assert seq_row.at["samples_mean", "value"] == pytest.approx(used.mean(), abs=0.01)
    assert seq_row.at["samples_median", "value"] == pytest.approx(np.median(used), abs=0.01)
    assert seq_row.at["samples_95th", "value"] == pytest.approx(np.percentile(used, 95), abs=0.01)
    assert fixed_row.at["samples_mean", "value"] == 2000
    for row, table in ((seq_row, seq_table), (fixed_row, fixed_table)):
        cells = row.loc["certified_accuracy"].sort_values("radius")
        expected = metrics.certified_accuracy(decide.certify(table, 0.001), [0.0, 0.25, 0.5])
        assert cells["value"].to_numpy() == pytest.approx(np.asarray(expected), abs=0.005)
    hist = pd.read_csv(folder / "samples_histogram.data.csv")
    assert hist["y"].sum() == pytest.approx(1.0) and 2 <= len(hist) <= 16


def test_paper_figures_have_the_expected_lines(pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pipeline["workdir"])  # tables.json names the count tables relative to the workflow's folder
    paths = pipeline["paths"]
    spec = {p: load_spec(paths.paper_tables.format(paper=p)) for p in ("cohen2019", "yang2020", "sun2025", "xin2025")}
    cohen, yang, sun = spec["cohen2019"].tables[0], spec["yang2020"].tables[0], spec["sun2025"].tables[0]
    xin = spec["xin2025"].tables[0]
    xin_drawn = [r for r in xin.runs if not xin.degenerate(r)] or xin.runs  # degenerate runs are left out
    matched = [r for r in cohen.runs if r.matched]
    expected = {
        ("cohen2019", "vary_sigma"): len(matched),
        ("cohen2019", "vary_train_noise"): len([r for r in cohen.runs if r.sigma == 0.5]),
        ("cohen2019", "high_prob"): 2 * len([r for r in matched if r.sigma == 0.25]),
        ("cohen2019", "radius_vs_pa"): len({r.sigma for r in cohen.runs}),
        ("cohen2019", "radius_vs_n"): len({r.sigma for r in cohen.runs}),
        ("yang2020", "envelope_l1"): len({r.group for r in yang.runs}),
        ("yang2020", "envelope_linf"): len({r.group for r in yang.runs}),
        ("yang2020", "radius_vs_p"): 7,  # the default families, which hold the runs' uniform and gaussian
        ("sun2025", "pa_ecdf"): 2 * len(sun.runs),
        ("sun2025", "pa_histogram"): len(sun.runs),
        ("sun2025", "acr_budget_figure"): 2 * len(sun.runs),
        ("xin2025", "rob_cs_curves"): len(xin_drawn) * len(xin.costs),
    }
    for (paper, name), lines in expected.items():
        data = artifact_frame(paths, paper, name, ".data.csv")
        assert data.groupby("panel")["line"].nunique().sum() == lines, (paper, name)
        for suffix in (".pdf", ".png"):
            assert (Path(paths.paper_dir(paper)) / "digits" / f"{name}{suffix}").stat().st_size > 1000


def test_claims_and_published_logs_on_the_ci_run(pipeline: dict[str, Any]) -> None:
    paths = pipeline["paths"]
    for paper in pipeline["plan"].papers:
        claims = pd.read_csv(paths.paper_claims.format(paper=paper))
        assert set(claims["status"]) <= {"holds", "does not hold", "not measurable here"} and len(claims)
        readme = Path(paths.paper_readme.format(paper=paper)).read_text()
        assert "## Claims, checked on this run" in readme and all(c in readme for c in claims["claim"])
    logs = pd.read_csv(paths.published_log_files("cohen2019")[0])
    recomputed = logs[logs["quantity"] == "recomputed"].set_index(["sigma", "radius"])["value"]
    assert recomputed[(0.25, 0.5)] == 0.3 and recomputed[(0.5, 1.5)] == 0.2  # the hand-made fixture logs
    md = Path(paths.published_log_files("cohen2019")[1]).read_text()
    assert md.count("FLAGGED") == 1 and "0.01; stated α = 0.001 -- FLAGGED" in md


def test_one_artifact_is_its_own_target(pipeline: dict[str, Any]) -> None:
    paths = pipeline["paths"]
    table = Path(paths.paper_dir("cohen2019")) / "digits" / "table1.md"
    table.unlink()
    result = run(pipeline["workdir"], "cohen2019_table1", *pipeline["args"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == {"cohen2019_table1": 1}
    assert table.is_file()
    # the same numbers: Snakemake sees table1.csv unchanged (checksum), so the README stays valid
    again = run(pipeline["workdir"], *pipeline["args"], "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_nothing_left_to_do(pipeline: dict[str, Any]) -> None:
    result = run(pipeline["workdir"], *pipeline["args"], "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
    # the `snakemake` script instead of `python -m snakemake`: another path to the interpreter,
    # not a change of any job's parameters
    script = Path(sys.executable).parent / "snakemake"
    if script.is_file():
        result = subprocess.run(
            [str(script), "-s", str(SNAKEFILE), *pipeline["args"], "-n"],
            cwd=pipeline["workdir"],
            env=snakemake_env(),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-2000:]


# ------------------------------------------------------- the check target and the results lock
def check_args(pipeline: dict[str, Any], config: Path | None = None) -> tuple[str, ...]:
    """The README's check command (the target before --configfile) on the pipeline's config."""
    return ("--cores", "1", "check", "--configfile", str(config or pipeline["config"]))


def test_check_target_names_a_corrupt_counts_file(pipeline: dict[str, Any]) -> None:
    """A merged counts.parquet of a finished run corrupted in place (bit rot, a bad disk: its
    modification time unchanged): the default target does not look at it, the check target fails
    with one line naming it (and says how to re-make it)."""
    plan, paths = pipeline["plan"], pipeline["paths"]
    counts = Path(paths.counts.format(run=plan.used_runs()[0]))
    original, times = counts.read_bytes(), (counts.stat().st_atime_ns, counts.stat().st_mtime_ns)
    try:
        counts.write_bytes(original[: len(original) // 2])
        os.utime(counts, ns=times)
        default = run(pipeline["workdir"], *pipeline["args"], "-n")
        assert "Nothing to be done" in default.stdout + default.stderr  # why the check target exists
        result = run(pipeline["workdir"], *check_args(pipeline))
        assert result.returncode != 0
        log = Path(paths.log("check", "check.log")).read_text()
        errors = [line for line in log.splitlines() if line.startswith("error: ")]
        named = str(counts.relative_to(pipeline["workdir"]))  # as the config gives it: relative
        assert len(errors) == 1 and named in errors[0] and "run the workflow's check target" in errors[0], log
    finally:
        counts.write_bytes(original)
        os.utime(counts, ns=times)


def test_check_target_remerges_a_deleted_counts_file_and_holds_the_results_lock(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    """``counts.parquet`` of a finished run deleted: the check target merges it again from its
    shards (the same table) and checks every run's counts. While that Snakemake run holds the
    results folder, a second Snakemake run on the same folder from another working directory (a
    second clone) is refused with one line naming the holder and runs no job; afterwards the
    second run finds the merge done (no job ran twice)."""
    plan, paths = pipeline["plan"], pipeline["paths"]
    counts = Path(paths.counts.format(run=plan.used_runs()[1]))
    before = read_table(counts)
    counts.unlink()
    default = run(pipeline["workdir"], *pipeline["args"], "-n")
    assert "Nothing to be done" in default.stdout + default.stderr  # the default target does not notice
    lock_file = pipeline["results"] / ".randsmooth.lock"
    first = start_snakemake(pipeline["workdir"], *check_args(pipeline))
    stopped = False
    try:
        started = time.monotonic()
        while f"pid {first.pid} on " not in (lock_file.read_text() if lock_file.exists() else ""):
            assert first.poll() is None and time.monotonic() - started < RUN_TIMEOUT_S, "no lock taken"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGSTOP)  # the first run holds the lock until it goes on
        stopped = True
        clone = tmp_path / "clone"
        config = dict(yaml.safe_load(pipeline["config"].read_text()), results=str(pipeline["results"]))
        second = run(clone, *check_args(pipeline, write_config(tmp_path / "c.yaml", config)))
        output = second.stdout + second.stderr
        assert second.returncode != 0, output[-3000:]
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output[-3000:]
        assert f"is in use by another Snakemake run (pid {first.pid} on " in errors[0], errors
        assert str(pipeline["results"].resolve()) in errors[0], errors
        # the job stats list what was planned; no job started or finished
        assert not re.search(r"^(local)?rule \w+:", output, re.MULTILINE) and "Finished job" not in output, output
    finally:
        if stopped:
            os.kill(first.pid, signal.SIGCONT)
        first_output = first.communicate(timeout=RUN_TIMEOUT_S)[0]
    assert first.returncode == 0, first_output[-3000:]
    assert job_counts(first_output) == {"check": 1, "merge": 1}, first_output[-3000:]
    pd.testing.assert_frame_equal(read_table(counts), before)
    again = run(clone, *check_args(pipeline, tmp_path / "c.yaml"))
    assert again.returncode == 0 and job_counts(again.stdout + again.stderr) == {"check": 1}, again.stderr[-3000:]


def test_corrupt_shard_is_a_clear_error(pipeline: dict[str, Any]) -> None:
    plan, paths = pipeline["plan"], pipeline["paths"]
    key = plan.used_runs()[0]
    shard = Path(paths.shard.format(run=key, shard=0))
    shard.write_bytes(b"this is not parquet")
    result = run(pipeline["workdir"], *pipeline["args"])
    assert result.returncode != 0
    log = Path(paths.log("merge", f"{key}.log")).read_text()
    assert "not a readable Parquet file" in log and str(shard.name) in log, log[-2000:]
    assert len([line for line in log.splitlines() if line.startswith("error: ")]) == 1, log[-2000:]
    assert not Path(paths.counts.format(run=key)).exists()


# ----------------------------------------------------------------- other failures
def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_missing_data_set_is_a_clear_error(tmp_path: Path) -> None:
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["datasets"]["digits"] = {"name": "imagenet", "root": str(tmp_path / "no imagenet here")}
    del cfg["papers"]["xin2025"]  # its 10-class cost matrices would be refused at plan time on 1000 classes
    result = run(tmp_path, "--profile", str(CI_PROFILE), "--configfile", str(write_config(tmp_path / "c.yaml", cfg)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule prepare_data" in output, output[-3000:]
    assert "no imagenet here" in output  # show-failed-logs prints the one-line error


def test_gpu_required_config_fails_fast_without_a_gpu(tmp_path: Path) -> None:
    if _has_gpu():
        pytest.skip("this machine has a GPU")
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    cfg["device"] = "cuda"
    started = time.monotonic()
    result = run(tmp_path, "--profile", str(CI_PROFILE), "--configfile", str(write_config(tmp_path / "c.yaml", cfg)))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule train" in output, output[-3000:]
    assert "no CUDA device is visible" in output
    assert time.monotonic() - started < 120
