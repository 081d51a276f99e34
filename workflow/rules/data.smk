# Data sets: check (and, where allowed, download) each data set once, before any job reads it.


rule prepare_data:
    output:
        WF.pattern("dataset"),
    log:
        WF.log_path("prepare_data", "{dataset}.log"),
    benchmark:
        WF.benchmark_path("prepare_data", "{dataset}.tsv")
    localrule: True
    conda:
        TRAINING_ENV
    params:
        py=lambda w: PY,
        args=lambda w: WF.prepare_args(w.dataset),
    shell:
        "{params.py} -m randsmooth.workflow_config prepare-data {params.args} --out {output:q} > {log:q} 2>&1"
