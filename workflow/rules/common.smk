# Config expansion and helpers shared by every rule file. All logic lives in
# randsmooth.workflow_config (unit-tested); this file only instantiates it.

import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod

from randsmooth.workflow_config import KEY_PATTERN, Workflow

try:
    WF = Workflow(config)
except ValueError as exc:
    raise WorkflowError(f"invalid config: {exc}")

# Inside a rule's conda env the env's own `python`; otherwise the interpreter running Snakemake.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = "python" if USE_CONDA else shlex.quote(sys.executable)
# Prefix of GPU commands: lease one device on a multi-GPU workstation (no-op under SLURM).
LEASE = WF.lease_prefix(PY)

TRAINING_ENV = "../../envs/training.yaml"
ANALYSIS_ENV = "../../envs/analysis.yaml"


wildcard_constraints:
    dataset=KEY_PATTERN,
    model=KEY_PATTERN,
    run=KEY_PATTERN,
    variant=KEY_PATTERN,
    paper=KEY_PATTERN,
    cost=KEY_PATTERN,
    shard=r"\d+",
