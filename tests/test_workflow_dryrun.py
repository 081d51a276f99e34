"""Dry runs (``snakemake -n``) of every shipped config with every profile, ``--lint``, and config errors.

The dry runs run **from the repository root**, exactly as the README says (where the default
config file is present), with the results folder moved to an empty temporary folder. The number
of jobs of each rule must equal what the given config alone implies. The expected counts are
computed here from the validated config (schema defaults filled in) with an independent,
simplified model of the workflow, not with randsmooth.pipeline:

* one ``train`` and one ``model_recipe`` job per distinct model recipe (content, not name) used by
  an enabled paper; one ``prepare_data`` per distinct data set of those models;
* per distinct certification run (sampling settings, not alpha): its shard count of
  ``certify_shard`` jobs, one ``run_settings`` and one ``merge``;
* one ``metrics`` and one ``metrics_variant`` job per distinct (run, alpha, norm, budget, radii,
  thresholds, cost matrix);
* one ``paper_tables`` and one ``paper_summary`` per enabled paper, one ``summary``, one ``all``;
* for each of the four papers: one job per artifact some table builds (the paper's defaults --
  Xin et al.'s precision/recall only for a HAM10000 table -- or the table's ``artifacts`` list,
  e.g. Sun et al.'s opt-in ablation), one ``<paper>_readme``, one ``<paper>_published_logs`` when
  the config names a clone; one ``index``.

The slurm profile is dry-run too: the executor plugin needs no ``sbatch`` for that.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from randsmooth.pipeline.config import validate

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SCHEMA = REPO / "config" / "schema.yaml"
CONFIGS = {
    "default": REPO / "config" / "config.yaml",
    "ci": REPO / "config" / "ci.yaml",
    **{p.stem: p for p in sorted((REPO / "config" / "papers").glob("*.yaml"))},
}
PROFILES = ("local", "ci", "slurm")
TIMEOUT_S = 240


def snakemake_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_snakemake(workdir: Path, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["timeout", "-k", "10", str(int(timeout)), sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *args]
    return subprocess.run(
        cmd,
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def job_counts(output: str) -> dict[str, int]:
    """Parse the "Job stats" table of a Snakemake run."""
    lines = output.splitlines()
    start = lines.index("Job stats:")
    counts: dict[str, int] = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


# ------------------------------------------------------------------ expected job counts
# the papers' artifacts as the issue lists them (an independent copy, not randsmooth.papers.catalog)
DEFAULT_ARTIFACTS = {
    "cohen2019": [
        "certified_accuracy",
        "table1",
        "vary_sigma",
        "vary_train_noise",
        "high_prob",
        "predict",
        "radius_vs_pa",
        "radius_vs_n",
    ],
    "yang2020": ["table1", "envelope_l1", "envelope_l2", "envelope_linf", "radius_vs_p", "linf_vs_dim"],
    "sun2025": ["table", "pa_ecdf", "pa_histogram", "radius_cap", "acr_budget", "acr_budget_figure"],
    "xin2025": ["standard", "cost_sensitive", "rob_cs_curves"],
}
HAM_ONLY = {"xin2025": ["precision_recall"]}


def paper_jobs(cfg: dict[str, Any]) -> dict[str, int]:
    """Artifact, README, published-log and index jobs of the enabled papers."""
    counts: dict[str, int] = {}
    for name, paper in cfg["papers"].items():
        if not paper["enabled"] or name not in DEFAULT_ARTIFACTS:
            continue
        built = set()
        for table in paper["tables"].values():
            model = cfg["certify"][table["runs"][0]]["model"]
            dataset = cfg["datasets"][cfg["models"][model]["dataset"]]["name"]
            defaults = DEFAULT_ARTIFACTS[name] + (HAM_ONLY.get(name, []) if dataset == "ham10000" else [])
            built |= set(table["artifacts"] if table["artifacts"] is not None else defaults)
        counts.update({f"{name}_{artifact}": 1 for artifact in built})
        counts[f"{name}_readme"] = 1
        if paper["published_logs"] is not None:
            counts[f"{name}_published_logs"] = 1
    if counts:
        counts["index"] = 1
    return counts


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def expected_counts(config: dict[str, Any]) -> dict[str, int]:
    cfg = validate(copy.deepcopy(config), SCHEMA)
    tables = [t for p in cfg["papers"].values() if p["enabled"] for t in p["tables"].values()]
    papers = sum(1 for p in cfg["papers"].values() if p["enabled"])

    def dataset_id(name: str) -> str:
        ds = cfg["datasets"][name]
        return _canon([ds["name"], ds["options"], ds["seed"]])

    def model_id(name: str) -> str:
        m = cfg["models"][name]
        if m["checkpoint"] is not None:
            return _canon(["checkpoint", m["checkpoint"]])
        recipe = m["recipe"] if isinstance(m["recipe"], dict) else cfg["recipes"][m["recipe"]]
        recipe = {
            k: (_num(v) if not isinstance(v, dict) else {kk: _num(vv) for kk, vv in v.items()})
            for k, v in recipe.items()
        }
        return _canon(
            [
                dataset_id(m["dataset"]),
                m["arch"],
                m["arch_params"],
                m["method"],
                m["noise"],
                m["noise_params"],
                float(m["sigma"]),
                recipe,
            ]
        )

    def run_id(name: str) -> tuple[str, int]:
        r = cfg["certify"][name]
        m = cfg["models"][r["model"]]
        noise = r["noise"] or m["noise"]
        params = (
            r["noise_params"] if r["noise_params"] is not None else (m["noise_params"] if noise == m["noise"] else {})
        )
        ex = r["examples"]
        if r["shard_size"] is not None:
            shards = math.ceil(len(range(ex["start"], ex["stop"], ex["skip"])) / r["shard_size"])
        else:
            shards = r["shards"] or 1
        sigma = float(r["sigma"] if r["sigma"] is not None else m["sigma"])
        return _canon(
            [model_id(r["model"]), noise, params, sigma, r["n0"], r["n"], ex, r["seed"], r["noise_block"], shards]
        ), shards

    runs: dict[str, int] = {}
    variants = set()
    for t in tables:
        for name in t["runs"]:
            rid, shards = run_id(name)
            runs[rid] = shards
            for budget in t["budgets"]:
                for cost in t["costs"] or [None]:
                    variants.add(
                        _canon(
                            [
                                rid,
                                float(t["alpha"]),
                                t["two_sided"],
                                t["norm"],
                                budget,
                                [float(x) for x in t["radii"]],
                                [float(x) for x in t["pa_thresholds"]],
                                cost,
                            ]
                        )
                    )
    run_models = {cfg["certify"][name]["model"] for t in tables for name in t["runs"]}
    trained = {model_id(m) for m in run_models if cfg["models"][m]["checkpoint"] is None}
    datasets = {dataset_id(cfg["models"][m]["dataset"]) for m in run_models}
    counts = {
        "model_recipe": len(trained),
        "train": len(trained),
        "prepare_data": len(datasets),
        "run_settings": len(runs),
        "certify_shard": sum(runs.values()),
        "merge": len(runs),
        "metrics_variant": len(variants),
        "metrics": len(variants),
        "paper_tables": papers,
        "paper_summary": papers,
        "summary": 1 if papers else 0,
        "all": 1,
        **paper_jobs(cfg),
    }
    return {k: v for k, v in counts.items() if v}


def test_expected_counts_of_the_ci_config_by_hand() -> None:
    config = yaml.safe_load(CONFIGS["ci"].read_text())
    # 2 models; 3 runs (2 + 2 + 1 shards); metrics: cohen 2 runs, yang 2 runs, sun 3 budgets + the
    # ablation's sigma 0.5 run (its gauss reading equals the main table's), xin 2 costs
    artifacts = {f"{p}_{a}": 1 for p, names in DEFAULT_ARTIFACTS.items() for a in names}
    assert expected_counts(config) == {
        "model_recipe": 2,
        "train": 2,
        "prepare_data": 1,
        "run_settings": 3,
        "certify_shard": 5,
        "merge": 3,
        "metrics_variant": 10,
        "metrics": 10,
        "paper_tables": 4,
        "paper_summary": 4,
        "summary": 1,
        "all": 1,
        **artifacts,
        "sun2025_ablation": 1,
        **{f"{p}_readme": 1 for p in DEFAULT_ARTIFACTS},
        "cohen2019_published_logs": 1,
        "sun2025_published_logs": 1,
        "index": 1,
    }


# ----------------------------------------------------------------------- dry runs
DryRuns = dict[tuple[str, str], tuple[Path, subprocess.CompletedProcess[str]]]


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> DryRuns:
    """Every (config, profile) dry run from the repository root, results in an empty temporary
    folder of its own, three at a time."""
    root = tmp_path_factory.mktemp("dry")
    cases = [(c, p) for c in CONFIGS for p in PROFILES]

    def one(case: tuple[str, str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
        config, profile = case
        results = root / f"{config}-{profile}"
        results.mkdir()
        return results, run_snakemake(
            REPO,
            "-n",
            "--quiet",
            "rules",
            "--profile",
            str(Path("workflow") / "profiles" / profile),
            "--configfile",
            str(CONFIGS[config].relative_to(REPO)),
            "--config",
            f"results={results}",
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(cases, pool.map(one, cases), strict=True))


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_dry_run_job_counts(dry_runs: DryRuns, config: str, profile: str) -> None:
    results, result = dry_runs[(config, profile)]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    expected = expected_counts(yaml.safe_load(CONFIGS[config].read_text()))
    assert job_counts(output) == expected  # the given config alone: nothing of config/config.yaml
    assert list(results.rglob("*")) == [], "a dry run must not create outputs"


def test_default_config_is_used_without_configfile(tmp_path: Path) -> None:
    """config/config.yaml when no --configfile is given, from the repository root or elsewhere."""
    for workdir in (REPO, tmp_path):
        result = run_snakemake(workdir, "-n", "--quiet", "rules", "--cores", "1", "--config", f"results={tmp_path}/r")
        assert result.returncode == 0, result.stderr[-3000:]
        expected = expected_counts(yaml.safe_load(CONFIGS["default"].read_text()))
        assert job_counts(result.stdout + result.stderr) == expected


@pytest.mark.parametrize("config", ["default", "cohen2019"])
def test_lint_reports_nothing(config: str, tmp_path: Path) -> None:
    result = run_snakemake(tmp_path, "--lint", "--configfile", str(CONFIGS[config]))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in output
    assert not re.search(r"^Lints for ", output, re.MULTILINE), output[-3000:]


# -------------------------------------------------------------------- config errors
def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "mutate, needles",
    [
        (lambda c: c["models"]["gauss"].update(arch="resnet9000"), ["'models/gauss/arch': 'resnet9000' is not one of"]),
        (lambda c: c["certify"]["gauss"].update(nn=5), ["config key 'certify/gauss/nn' is not allowed"]),
        (
            lambda c: c["certify"]["gauss"].update(model="ghost"),
            ["config key 'certify/gauss/model': unknown models entry 'ghost'"],
        ),
    ],
)
def test_invalid_config_stops_with_the_key_named(mutate: Any, needles: list[str], tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIGS["ci"].read_text())
    mutate(config)
    result = run_snakemake(
        tmp_path, "-n", "--cores", "1", "--configfile", str(write_config(tmp_path / "c.yaml", config))
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in output, output[-3000:]
    for needle in needles:
        assert needle in errors[0], output[-3000:]


def test_missing_checkpoint_is_a_missing_input(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIGS["ci"].read_text())
    model = config["models"]["gauss"]
    model.pop("recipe")
    model["checkpoint"] = str(tmp_path / "no such dir" / "released.pth.tar")
    result = run_snakemake(
        tmp_path, "-n", "--cores", "1", "--configfile", str(write_config(tmp_path / "c.yaml", config))
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "MissingInputException" in output and "released.pth.tar" in output, output[-3000:]


def test_job_counts_parser() -> None:
    text = "x\nJob stats:\njob      count\n-----  -------\na            3\nall          1\ntotal        4\n"
    assert job_counts(text) == {"a": 3, "all": 1}
    assert Counter(job_counts(text)).total() == 4


def test_profile_slurm_resolves_from_the_repository_root(tmp_path: Path) -> None:
    """The README's headline command works as typed: `--profile slurm` finds the tracked link
    slurm -> workflow/profiles/slurm in the working directory (no link in ~/.config needed)."""
    assert (REPO / "slurm").resolve() == (REPO / "workflow" / "profiles" / "slurm").resolve()
    assert (REPO / "profiles" / "default").resolve() == (REPO / "workflow" / "profiles" / "default").resolve()
    result = run_snakemake(
        REPO,
        *("--cores", "all", "--profile", "slurm", "-n", "--quiet", "rules"),
        *("--configfile", "config/ci.yaml", "--config", f"results={tmp_path}/r"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in output, output[-3000:]
    assert job_counts(output) == expected_counts(yaml.safe_load(CONFIGS["ci"].read_text()))
