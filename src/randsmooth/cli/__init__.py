"""Command line of randsmooth: ``python -m randsmooth <command> [options]``.

One short module per command, each with ``main(argv) -> int``; the library holds the logic. User
errors (bad arguments, missing or corrupt files, impossible settings) are one line on stderr,
``error: ...`` naming the argument or file, and exit status 2; anything else is a bug and shows
its traceback.
"""

from __future__ import annotations

# command -> (module under randsmooth.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a base classifier from a YAML/JSON training config"),
    "certify": ("certify", "sample class counts of test examples under noise (one shard) into Parquet"),
    "merge": ("merge", "merge certification shards, checking coverage and consistency"),
    "metrics": ("metrics", "radii and paper metrics of a merged count table"),
    "prepare-data": ("prepare_data", "check (or download) a data set and record its split sizes"),
    "summary": ("summary", "combine metrics tables into the appendix summary of a paper"),
    "paper": ("paper", "build one table or figure of a paper (e.g. cohen2019_table1)"),
    "paper-readme": ("paper_readme", "check a paper's claims on a run and write its results README"),
    "published-logs": ("published_logs", "rebuild a paper's tables from the authors' released logs"),
    "index": ("index", "list config names of models and runs with their folders (results/index)"),
    "describe": ("describe", "list a workflow config's models and runs with their result folders"),
    "cost": ("cost", "GPU-hours of a workflow config's jobs per rule, paper table and target"),
    "soft-targets": ("soft_targets", "a smoothed teacher's class frequencies on the training set (CAT-RS)"),
    "gpu-lease": ("gpu_lease", "run a command on one leased GPU (multi-GPU workstations)"),
    "check-counts": ("check_counts", "check that count tables are present and readable (the check target)"),
    "write-spec": ("write_spec", "write a workflow spec file (run.json, tables.json, ...) atomically"),
    "snakemake": ("snakemake", "run Snakemake after checking each --configfile (one-line config errors)"),
}
