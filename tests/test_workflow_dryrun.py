"""Dry runs (``snakemake -n``) of every shipped config with every profile, ``--lint``, and config errors.

The dry runs run **from the repository root**, exactly as the README says (where the default
config file is present), with the results folder moved to an empty temporary folder. The number
of jobs of each rule must equal what the given config alone implies. The expected counts are
computed here from the validated config (schema defaults filled in) with an independent,
simplified model of the workflow, not with randsmooth.pipeline:

* one ``train`` and one ``model_recipe`` job per distinct model recipe (content, not name) used by
  an enabled paper or taught one of those or started one (``pretrained``); one ``soft_targets``
  job per distinct (teacher, draws, seed) of the methods that learn from a teacher; one
  ``prepare_data`` per distinct data set;
* per distinct certification run (sampling settings, not alpha): its shard count of
  ``certify_shard`` jobs, one ``run_settings`` and one ``merge``;
* one ``metrics`` and one ``metrics_variant`` job per distinct (run, alpha, norm, budget, radii,
  thresholds, first examples, cost matrix);
* one ``paper_tables`` and one ``paper_summary`` per enabled paper, one ``summary``, one ``all``;
* for each of the four papers: one job per artifact some table builds (the paper's defaults --
  Xin et al.'s precision/recall only for a HAM10000 table -- or the table's ``artifacts`` list,
  e.g. Sun et al.'s opt-in ablation), one ``<paper>_readme``, one ``<paper>_published_logs`` when
  the config names a clone; one ``index``.

The slurm profile is dry-run too: the executor plugin needs no ``sbatch`` for that. The job
counts of the paper configs are also recorded here as numbers (a change to a config shows up as a
change of its row), and the slurm dry run shows each GPU job's CPUs, memory and wall time.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import math
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import workflow_run
from randsmooth.losses import get_loss
from randsmooth.pipeline.config import merge, validate

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
SCHEMA = REPO / "config" / "schema.yaml"
CONFIGS = {
    "default": REPO / "config" / "config.yaml",
    "ci": REPO / "config" / "ci.yaml",
    **{p.stem: p for p in sorted((REPO / "config" / "papers").glob("*.yaml"))},
}
# name -> the --configfile files of a dry run: every shipped config, and the paper configs' extras
CONFIG_FILES = {
    **{name: [path] for name, path in CONFIGS.items()},
    "sun2025+stability": [CONFIGS["sun2025"], REPO / "config" / "papers" / "extras" / "sun2025_stability.yaml"],
}
PROFILES = ("local", "ci", "slurm")
# every shipped config under every profile; an extra under the slurm profile only (profiles do not
# change which jobs there are)
DRY_RUNS = [(c, p) for c in CONFIGS for p in PROFILES] + [("sun2025+stability", "slurm")]
TIMEOUT_S = 240


def run_snakemake(workdir: Path, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return workflow_run.run_snakemake(workdir, *args, timeout=timeout)


def read_config(name: str) -> dict[str, Any]:
    """The config a dry run of ``CONFIG_FILES[name]`` reads (the files merged in order)."""
    config: dict[str, Any] = {}
    for path in CONFIG_FILES[name]:
        merge(config, yaml.safe_load(path.read_text()))
    return config


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
                m["noise_space"],
                float(m["sigma"]),
                recipe,
                model_id(m["pretrained"]) if m["pretrained"] else None,
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
            [
                *[model_id(r["model"]), noise, params, sigma, r["n0"], r["n"], ex, r["seed"], r["noise_block"]],
                *[shards, r["sequential"]],  # a sequential run (its stopping rule) is another run
            ]
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
                                t["first_examples"],
                                cost,
                            ]
                        )
                    )

    def soft_targets(name: str) -> tuple[str, int, int] | None:
        """(teacher model, draws, seed) of a model whose method learns from a teacher."""
        method = cfg["models"][name]["method"]
        params = dict(method.get("params", {}))
        if isinstance(params.get("cost"), str):  # a name of the top-level costs: the matrix itself
            matrix_keys = ("preset", "dataset", "num_classes", "pairs", "matrix", "seeds", "name")
            params["cost"] = {k: v for k, v in cfg["costs"][params["cost"]].items() if k in matrix_keys}
        loss = get_loss(method["name"], **params)
        return (
            (model_id(params["teacher"]), loss.teacher_samples, loss.teacher_seed) if loss.needs_soft_targets else None
        )

    run_models = {cfg["certify"][name]["model"] for t in tables for name in t["runs"]}
    todo, used = list(run_models), set()
    while todo:  # and the teachers they learn from, the models they start from
        name = todo.pop()
        if name not in used:
            used.add(name)
            soft = soft_targets(name) if cfg["models"][name]["checkpoint"] is None else None
            todo += [cfg["models"][name]["method"]["params"]["teacher"]] if soft else []
            todo += [cfg["models"][name]["pretrained"]] if cfg["models"][name]["pretrained"] else []
    trained = {model_id(m) for m in used if cfg["models"][m]["checkpoint"] is None}
    teachers = {soft_targets(m) for m in used if cfg["models"][m]["checkpoint"] is None} - {None}
    datasets = {dataset_id(cfg["models"][m]["dataset"]) for m in used}
    counts = {
        "model_recipe": len(trained),
        "train": len(trained),
        "soft_targets": len(teachers),
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
    # 3 models (CAT-RS learns from the Gaussian one's soft targets); 5 runs (2 + 2 + 1 + 1 shards and
    # the sequential gauss_seq's 2; its twin gauss_twin is gauss's folder); metrics: cohen 2 runs and
    # gauss_seq (gauss_twin's reading is gauss's), yang 2 runs, sun 3 budgets + the CAT-RS run (the
    # ablation's readings equal those of the other sun tables), xin 2 costs
    artifacts = {f"{p}_{a}": 1 for p, names in DEFAULT_ARTIFACTS.items() for a in names}
    assert expected_counts(config) == {
        "model_recipe": 3,
        "train": 3,
        "soft_targets": 1,
        "prepare_data": 1,
        "run_settings": 5,
        "certify_shard": 8,
        "merge": 5,
        "metrics_variant": 11,
        "metrics": 11,
        "paper_tables": 4,
        "paper_summary": 4,
        "summary": 1,
        "all": 1,
        **artifacts,
        "sun2025_ablation": 1,
        **{f"{p}_{a}": 1 for p in DEFAULT_ARTIFACTS for a in ("samples", "samples_histogram")},
        **{f"{p}_readme": 1 for p in DEFAULT_ARTIFACTS},
        "cohen2019_published_logs": 1,
        "sun2025_published_logs": 1,
        "index": 1,
    }


# Job counts of the paper configs, worked out by hand from the configs (e.g. Cohen: 7 models; 12
# runs, 7 CIFAR-10 runs x 10 shards + 5 ImageNet runs x 20 shards; 18 metrics variants, the
# alpha = 0.01 and 427-example rows among them; Yang: 80 models + 15 Imagenet32 pre-trainings and
# the 15 CIFAR-10 models started from them; Sun: 39 + the two late-start ablation
# models, each one more run of 20 shards and one more metrics variant (their table's other rows are
# the main table's readings); Xin: 36 + plain SmoothAdv and Margin-CS S-Pair at sigma 0.25 on CIFAR-10
# (20 shards and 4 cost matrices each), SmoothAdv-CS on Imagenette (8 shards, 3 matrices) and the
# cost-weighted HAM Margin-CS (8 shards, 1 matrix; its Gaussian row is the HAM table's reading)).
PAPER_JOB_COUNTS = {
    "cohen2019": {"models": 7, "soft_targets": 0, "data": 2, "runs": 13, "shards": 180, "variants": 20, "papers": 1},
    "yang2020": {"models": 110, "soft_targets": 0, "data": 3, "runs": 96, "shards": 1920, "variants": 97, "papers": 1},
    "sun2025": {"models": 41, "soft_targets": 6, "data": 2, "runs": 39, "shards": 780, "variants": 151, "papers": 1},
    "sun2025+stability": {
        **{"models": 44, "soft_targets": 6, "data": 2, "runs": 42, "shards": 840, "variants": 163, "papers": 1}
    },
    "xin2025": {"models": 40, "soft_targets": 0, "data": 5, "runs": 41, "shards": 604, "variants": 123, "papers": 1},
}
# Each paper config also has one sequential run (Cohen: 10 shards, the others 20), the twin of a
# fixed-N run, read by its `sequential` table: +1 run and +2 metrics variants (the sequential run's
# and its twin's reading at that table's radii), +2 artifact jobs (samples, samples_histogram).
# Paper artifact jobs (one per artifact a table builds, the README, the released-log tables, the
# index): Cohen's 8 artifacts + 2 sequential + 3, Yang's 6 + 2 + 2, Sun's 7 (the ablation included)
# + 2 + 3, Xin's 4 (precision/recall for the HAM10000 tables) + 2 + 2.
PAPER_ARTIFACT_JOBS = {"cohen2019": 13, "yang2020": 10, "sun2025": 12, "sun2025+stability": 12, "xin2025": 8}


@pytest.mark.parametrize("config", list(PAPER_JOB_COUNTS))
def test_recorded_job_counts_of_the_paper_configs(config: str) -> None:
    n = PAPER_JOB_COUNTS[config]
    counts = {
        "model_recipe": n["models"],
        "train": n["models"],
        "soft_targets": n["soft_targets"],
        "prepare_data": n["data"],
        "run_settings": n["runs"],
        "certify_shard": n["shards"],
        "merge": n["runs"],
        "metrics_variant": n["variants"],
        "metrics": n["variants"],
        "paper_tables": n["papers"],
        "paper_summary": n["papers"],
        "summary": 1,
        "all": 1,
    }
    expected = expected_counts(read_config(config))
    assert {k: v for k, v in expected.items() if k in counts} == {k: v for k, v in counts.items() if v}
    assert sum(v for k, v in expected.items() if k not in counts) == PAPER_ARTIFACT_JOBS[config]


# ----------------------------------------------------------------------- dry runs
DryRuns = dict[tuple[str, str], tuple[Path, subprocess.CompletedProcess[str]]]


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> DryRuns:
    """Every (config, profile) dry run from the repository root, results in an empty temporary
    folder of its own, three at a time."""
    root = tmp_path_factory.mktemp("dry")
    cases = DRY_RUNS

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
            *(str(path.relative_to(REPO)) for path in CONFIG_FILES[config]),
            "--config",
            f"results={results}",
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(cases, pool.map(one, cases), strict=True))


@pytest.mark.parametrize("config, profile", DRY_RUNS)
def test_dry_run_job_counts(dry_runs: DryRuns, config: str, profile: str) -> None:
    results, result = dry_runs[(config, profile)]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    expected = expected_counts(read_config(config))
    assert job_counts(output) == expected  # the given config alone: nothing of config/config.yaml
    assert list(results.rglob("*")) == [], "a dry run must not create outputs"


def job_resources(output: str) -> list[tuple[str, str, dict[str, str]]]:
    """(rule, wildcards, resources) of every job of a dry run's job listing."""
    jobs = []
    for block in output.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        fields = dict(re.findall(r"^    (wildcards|resources): (.*)$", block, re.MULTILINE))
        resources = dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if "=" in item)
        jobs.append((rule, fields.get("wildcards", ""), resources))
    return jobs


def test_slurm_jobs_ask_for_the_resources_of_their_data_set_and_architecture(tmp_path: Path) -> None:
    """Cohen et al.'s config under the slurm profile: each GPU job asks for the CPUs, memory and
    wall time that the config's resources section gives its data set and architecture."""
    result = run_snakemake(
        REPO,
        *("-n", "--profile", "workflow/profiles/slurm", "--configfile", "config/papers/cohen2019.yaml"),
        *("--config", f"results={tmp_path}/r"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    asked = Counter(
        (rule, "resnet50" in wildcards, tuple(resources[k] for k in ("gpu", "cpus_per_task", "mem_mb", "runtime")))
        for rule, wildcards, resources in job_resources(output)
        if rule in ("train", "certify_shard")
    )
    # train: 90 epochs x 0.3 (CIFAR-10 ResNet-110) or 60 (ImageNet ResNet-50) minutes x margin 1.5,
    # ImageNet cut at max_minutes = 2880; certify: a shard of 50 CIFAR-10 images x 15 s (at least
    # min_minutes = 30) or of 25 ImageNet images x 150 s, x 1.5; the sequential CIFAR-10 run's 10
    # shards ask for their worst case (every image to max_n), as the fixed-N ones
    assert asked == {
        ("train", False, ("1", "4", "16000", "41")): 4,
        ("train", True, ("1", "16", "64000", "2880")): 3,
        ("certify_shard", False, ("1", "4", "16000", "30")): 80,
        ("certify_shard", False, ("1", "4", "32000", "94")): 100,
    }
    # estimated peak GPU memory (randsmooth.pipeline.memory), MiB: ResNet-110 / ResNet-50 training at
    # batch 400, certification at batch 400
    gpu = Counter((rule, resources["gpu_mem_mb"]) for rule, _, resources in job_resources(output) if "gpu" in resources)
    expected = {("train", "5592"): 4, ("train", "42891"): 3, ("certify_shard", "1702"): 80}
    assert gpu == {**expected, ("certify_shard", "9443"): 100}


def test_slurm_dry_run_warns_when_a_chain_needs_more_retries(tmp_path: Path) -> None:
    """The CI config on a partition of 1 minute (a 0.5 min time budget per allocation): the slurm
    profile's --retries 2 leaves CAT-RS's training 357 allocations short (120 min x margin 1.5 needs
    360). One warning line while the DAG is built, naming the job and the --retries needed (no line
    once --retries covers it: tests/test_cost.py)."""
    config = yaml.safe_load(CONFIGS["ci"].read_text())
    config["resources"] = {"max_minutes": 1, "min_minutes": 1}
    path = write_config(tmp_path / "c.yaml", config)
    base = (
        "-n",
        "--profile",
        "workflow/profiles/slurm",
        "--configfile",
        str(path),
        "--config",
        f"results={tmp_path}/r",
    )
    short = run_snakemake(REPO, *base, "--quiet", "rules")
    assert short.returncode == 0, short.stderr[-3000:]
    warnings = [line for line in short.stderr.splitlines() if line.startswith("warning: under SLURM")]
    assert len(warnings) == 1, short.stderr[-3000:]
    assert "than --retries 2 allows (3): the longest, train catrs (digits/digits_cnn)" in warnings[0]
    assert "needs 360; run with --retries 359 " in warnings[0]


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
