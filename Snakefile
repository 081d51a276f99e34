# Randomized-smoothing reproductions (Cohen 2019, Yang 2020, Sun 2025, Xin 2025).
#
#   snakemake --cores all                                   # default config: all four papers on digits
#   snakemake --cores all cohen2019_table1                  # one paper artifact (README: Paper artifacts)
#   snakemake --cores all --profile slurm --configfile config/papers/cohen2019.yaml
#   snakemake --report results/report.zip                   # after a run
#
# This file is orchestration only: experiments are data (config/*.yaml, validated against
# config/schema.yaml and expanded by randsmooth.pipeline); rules call `python -m randsmooth`.
# The config is exactly the --configfile given (config/config.yaml when none is), see
# randsmooth.pipeline.config.

from snakemake.utils import min_version

min_version("9.0")


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
        P.final_targets(PLAN),


rule train_all:
    input:
        P.train_targets(PLAN),


rule certify_all:
    input:
        P.certify_targets(PLAN),


rule metrics_all:
    input:
        P.metrics_of(PLAN),
