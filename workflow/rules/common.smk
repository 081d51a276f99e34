# The config and what every rule file shares. All logic lives in randsmooth.pipeline
# (unit-tested); this file only reads the config and names the results paths.

import shlex
import sys

from snakemake_interface_executor_plugins.settings import DeploymentMethod

from randsmooth.papers.catalog import artifacts_of
from randsmooth.pipeline import commands
from randsmooth.pipeline import cost
from randsmooth.pipeline import lock
from randsmooth.pipeline import resources as RES
from randsmooth.pipeline.keys import KEY_PATTERN
from randsmooth.pipeline.paths import Paths
from randsmooth.pipeline.plan import load_workflow

try:  # the --configfile files exactly (config/config.yaml if none), checked before any job starts
    PLAN = load_workflow(workflow.config_settings.configfiles, workflow.config_settings.config, workflow.basedir)
except (ValueError, FileNotFoundError) as exc:
    print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
    sys.exit(2)
config.clear()
config.update(PLAN.config)

P = Paths(PLAN.results)  # every results/ path pattern: P.recipe, P.shard, P.counts, ...
RESULTS_LOCK = []  # the open lock file of the results folder while jobs run (randsmooth.pipeline.lock)

# Inside a rule's conda env the env's own `python`; otherwise the interpreter running Snakemake, by
# one name whichever alias started it (`snakemake` or `python -m snakemake`: the same params).
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = "python" if USE_CONDA else shlex.quote(commands.interpreter())
# Prefix of GPU commands: lease one device on a multi-GPU workstation (no-op under SLURM).
LEASE = commands.lease_prefix(PLAN, PY)


def GPU_CONSTRAINT(job_of):
    """`constraint` (sbatch -C: the GPU types whose memory holds the job's estimated need) when the
    config declares resources/gpu_features, else nothing (no -C at all)."""
    if not PLAN.config["resources"]["gpu_features"]:
        return {}
    return {"constraint": lambda w: job_of(w).constraint()}


CHAINS_CHECKED = []


def CHAIN_CHECK(value):
    """``value`` (a GPU job's runtime); the first time, while the DAG is built (dry runs too) or at
    onstart, a one-line warning when a job needs more allocations of resources/max_minutes than
    --retries allows (randsmooth.pipeline.cost.chain_warning). Not for the local executor: only a
    SLURM job gets a time budget (train.smk) and is cut at its wall time."""
    if not CHAINS_CHECKED and workflow.is_main_process:
        CHAINS_CHECKED.append(True)
        executor = workflow.executor_plugin.name if workflow.executor_plugin is not None else "local"
        line = None if executor == "local" else cost.chain_warning(PLAN, workflow.execution_settings.retries)
        if line:
            print(line, file=sys.stderr)
    return value


# The papers this library has artifacts for, and their data files next to the Snakefile.
PAPERS = [p for p in PLAN.papers if artifacts_of(p)]
PUBLISHED = os.path.join(workflow.basedir, "config", "published", "{paper}.yaml")  # printed values
CLAIMS = os.path.join(workflow.basedir, "config", "claims", "{paper}.yaml")  # the papers' claims

TRAINING_ENV = "../../envs/training.yaml"
ANALYSIS_ENV = "../../envs/analysis.yaml"


wildcard_constraints:
    dataset=KEY_PATTERN,
    model=KEY_PATTERN,
    run=KEY_PATTERN,
    variant=KEY_PATTERN,
    paper=KEY_PATTERN,
    shard=r"\d+",
    samples=r"\d+",
    seed=r"\d+",


def artifact_outputs(artifact, in_report=report):
    """The artifact's files; its CSV table or PNG figure go into the report with the caption."""
    shown = ".csv" if artifact.kind == "table" else ".png"
    return [
        (
            in_report(
                path,
                caption="../report/paper_artifact.rst",
                category=artifact.paper,
                subcategory=path.split("/")[-2],
                labels={"artifact": artifact.target, "file": path.split("/")[-1]},
            )
            if path.endswith(shown) and not path.endswith(".data.csv") and "/ecdf/" not in path
            else path
        )
        for path in P.artifact_files(PLAN, artifact)
    ]


onstart:
    CHAIN_CHECK(None)  # before any job, if no runtime was evaluated yet
    # one run per results folder, across clones too (Snakemake's own lock is per working directory)
    try:
        RESULTS_LOCK.append(lock.acquire(PLAN.results))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
