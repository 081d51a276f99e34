# Certification: Monte Carlo class counts, one GPU job per shard of the example subset. A retried
# shard resumes from its side file <shard>.parquet.progress.jsonl (kept by Snakemake, which only
# deletes declared outputs). Radii are computed later (metrics), so alpha is not needed here.
# CPUs, memory and wall time of each shard come from the config's `resources`; its batch (samples per
# forward pass) is the run's, lowered to fit resources/gpu_memory_gb (the counts do not depend on it).


rule run_settings:
    output:
        P.run_settings,
    log:
        P.log("run_settings", "{run}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        settings=lambda w: commands.run_settings_json(PLAN, w.run),
    shell:
        "{params.py} -m randsmooth write-spec {output:q} {params.settings:q} 2> {log:q}"


rule certify_shard:
    input:
        # content-addressed, like recipe.json: only existence counts (ancient), and certify refuses
        # a run.json edited by hand (it no longer gives the folder's key)
        settings=ancient(P.run_settings),
        model=lambda w: P.weights_of(PLAN, PLAN.run(w.run).model_key),
        data=lambda w: ancient(P.dataset_record_of(PLAN, PLAN.run(w.run).model_key)),
    output:
        P.shard,
    log:
        P.log("certify_shard", "{run}/{shard}.log"),
    benchmark:
        P.benchmark("certify_shard", "{run}/{shard}.tsv")
    conda:
        TRAINING_ENV
    threads: lambda w: RES.certify_job(PLAN, w.run).cpus
    resources:
        **GPU_CONSTRAINT(lambda w: RES.certify_job(PLAN, w.run)),
        gpu=1,
        cpus_per_task=lambda w: RES.certify_job(PLAN, w.run).cpus,
        mem_mb=lambda w, attempt: RES.certify_job(PLAN, w.run).mem(attempt),
        runtime=lambda w, attempt: CHAIN_CHECK(RES.certify_job(PLAN, w.run).runtime(attempt)),
        gpu_mem_mb=lambda w: RES.certify_job(PLAN, w.run).gpu_mb,
    params:
        py=PY,
        lease=LEASE,
        data_root=lambda w: PLAN.run(w.run).dataset.root,
        batch=lambda w: RES.certify_batch(PLAN, w.run),  # the run's batch, lowered to fit gpu_memory_gb
        engine=lambda w: commands.engine_options(PLAN, w.run),
        device=PLAN.device,
    shell:
        "{params.lease}{params.py} -m randsmooth certify --run {input.settings:q} --checkpoint {input.model:q} "
        "--data-root {params.data_root:q} --shard {wildcards.shard} --batch {params.batch} {params.engine} "
        "--device {params.device:q} --num-threads {threads} --no-progress --out {output:q} > {log:q} 2>&1"


rule merge:
    input:
        lambda w: P.shards_of(PLAN, w.run),
    output:
        P.counts,
    log:
        P.log("merge", "{run}.log"),
    benchmark:
        P.benchmark("merge", "{run}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        checks=lambda w: commands.merge_checks(PLAN, w.run),
    shell:
        "{params.py} -m randsmooth merge {input:q} --out {output:q} {params.checks} > {log:q} 2>&1"


# The check target (here, not in the Snakefile: ANALYSIS_ENV is relative to workflow/rules/).
# Notices missing or corrupt merged counts of the runs the config uses (the default target does not
# look at them once the metrics made from them exist): a missing one is merged again from its shards.
rule check:
    input:
        P.certify_targets(PLAN),
    log:
        P.log("check", "check.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
    shell:  # shown and logged (the shell runs with pipefail)
        "{params.py} -m randsmooth check-counts {input:q} 2>&1 | tee {log:q}"
