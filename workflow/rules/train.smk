# Training: one job per distinct model (content-addressed folder); a retried job resumes from
# the folder's checkpoint.pt, which Snakemake never deletes (only final.pt is a declared output).


rule model_recipe:
    output:
        WF.pattern("recipe"),
    log:
        WF.log_path("model_recipe", "{model}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        recipe=lambda w: WF.recipe_json(w.model),
    shell:
        "printf '%s\\n' {params.recipe:q} > {output:q} 2> {log:q}"


rule train:
    input:
        # content-addressed (the folder name is the recipe's hash): rewriting the same file, e.g.
        # after a change to a helper rule, must not retrain, so only existence counts (ancient)
        recipe=ancient(WF.pattern("recipe")),
        data=lambda w: ancient(WF.dataset_manifest(WF.model(w.model).dataset.key)),
    output:
        WF.pattern("final"),
    log:
        WF.log_path("train", "{model}.log"),
    benchmark:
        WF.benchmark_path("train", "{model}.tsv")
    conda:
        TRAINING_ENV
    threads: WF.threads
    resources:
        gpu=1,
    params:
        py=lambda w: PY,
        lease=lambda w: LEASE,
        out_dir=lambda w, output: os.path.dirname(output[0]),
        data_root=lambda w: WF.model(w.model).dataset.root,
        device=lambda w: WF.device,
    shell:
        "RANDSMOOTH_DATA_DIR={params.data_root:q} OMP_NUM_THREADS={threads} "
        "{params.lease}{params.py} -m randsmooth train --config {input.recipe:q} "
        "--out {params.out_dir:q} --device {params.device:q} > {log:q} 2>&1"
