# Data sets: check (and, where allowed, download) each data set once, before any job reads it.


rule prepare_data:
    output:
        P.dataset_record,
    log:
        P.log("prepare_data", "{dataset}.log"),
    benchmark:
        P.benchmark("prepare_data", "{dataset}.tsv")
    localrule: True
    conda:
        TRAINING_ENV
    params:
        py=PY,
        name=lambda w: PLAN.datasets[w.dataset].name,
        root=lambda w: PLAN.datasets[w.dataset].root,
        options=lambda w: commands.canonical_json(PLAN.datasets[w.dataset].options),
        seed=lambda w: "" if PLAN.datasets[w.dataset].seed is None else f"--seed {PLAN.datasets[w.dataset].seed}",
        download=lambda w: "--download" if PLAN.datasets[w.dataset].download else "",
    shell:
        "{params.py} -m randsmooth prepare-data --name {params.name:q} --root {params.root:q} "
        "--options {params.options:q} {params.seed} {params.download} --out {output:q} > {log:q} 2>&1"
