# Certification: Monte Carlo class counts, one GPU job per shard of the example subset. A retried
# shard resumes from its side file <shard>.parquet.progress.jsonl (kept by Snakemake, which only
# deletes declared outputs). Radii are computed later (metrics), so alpha is not needed here.


rule certify_shard:
    input:
        model=lambda w: WF.checkpoint_path(WF.run(w.run).model_key),
        data=lambda w: ancient(WF.dataset_manifest(WF.run(w.run).dataset.key)),
    output:
        WF.pattern("shard"),
    log:
        WF.log_path("certify_shard", "{run}/{shard}.log"),
    benchmark:
        WF.benchmark_path("certify_shard", "{run}/{shard}.tsv")
    conda:
        TRAINING_ENV
    threads: WF.threads
    resources:
        gpu=1,
    params:
        py=lambda w: PY,
        lease=lambda w: LEASE,
        args=lambda w: WF.certify_args(w.run, w.shard),
    shell:
        "{params.lease}{params.py} -m randsmooth certify {params.args} --num-threads {threads} "
        "--out {output:q} > {log:q} 2>&1"


rule merge:
    input:
        lambda w: WF.shard_paths(w.run),
    output:
        WF.pattern("counts"),
    log:
        WF.log_path("merge", "{run}.log"),
    benchmark:
        WF.benchmark_path("merge", "{run}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=lambda w: PY,
        args=lambda w: WF.merge_args(w.run),
    shell:
        "{params.py} -m randsmooth merge {input:q} --out {output:q} {params.args} > {log:q} 2>&1"
