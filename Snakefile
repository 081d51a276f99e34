# Randomized-smoothing reproductions (Cohen 2019, Yang 2020, Sun 2025, Xin 2025).
#
#   snakemake --cores all                                   # default config: all four papers on digits
#   snakemake --profile workflow/profiles/slurm --configfile config/papers/cohen2019.yaml
#   snakemake --report results/report.zip                   # after a run
#
# This file is orchestration only: experiments are data (config/*.yaml, validated against
# config/schema.yaml and expanded by randsmooth.workflow_config); rules call `python -m randsmooth`.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/certify.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/papers.smk"


rule all:
    default_target: True
    input:
        WF.final_targets(),


rule train_all:
    input:
        WF.train_targets(),


rule certify_all:
    input:
        WF.certify_targets(),


rule metrics_all:
    input:
        WF.metrics_targets(),
