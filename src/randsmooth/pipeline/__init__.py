"""From a workflow config to the jobs of the Snakemake workflow (torch-free at import time).

* :mod:`.config` -- read the config files strictly and validate them against ``config/schema.yaml``;
* :mod:`.keys` -- content addresses (readable slug + hash) of models, runs and metrics variants;
* :mod:`.plan` -- the config expanded into data sets, models, certification runs, metrics
  variants and paper tables, with every cross-reference and value checked before a job starts;
* :mod:`.paths` -- every path pattern under ``results/`` and the targets of the workflow;
* :mod:`.commands` -- what each rule passes to its command (spec files, named arguments);
* :mod:`.summary` -- the summary tables of a paper.
"""
