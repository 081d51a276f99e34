# Training: one job per distinct model (content-addressed folder); a retried job resumes from
# the folder's checkpoint.pt, which Snakemake never deletes (only final.pt is a declared output).
# Methods that learn from a teacher (CAT-RS; Sun et al. with discard_source: teacher) train with
# the teacher's soft targets, computed once per (teacher, draws, seed) by the soft_targets rule.
# A model with `pretrained: <model>` starts from that model's trained network (train --init).
# CPUs, memory and wall time of each job come from the config's `resources` (randsmooth.pipeline.resources);
# gpu_mem_mb is the estimated peak GPU memory (randsmooth.pipeline.memory), `constraint` the GPU types
# that hold it (only with resources/gpu_features).


rule model_recipe:
    output:
        P.recipe,
    log:
        P.log("model_recipe", "{model}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        recipe=lambda w: commands.recipe_json(PLAN, w.model),
    shell:
        "{params.py} -m randsmooth write-spec {output:q} {params.recipe:q} 2> {log:q}"


rule soft_targets:
    input:
        teacher=P.weights,
        data=lambda w: ancient(P.dataset_record_of(PLAN, w.model)),
    output:
        P.soft_targets,
    log:
        P.log("soft_targets", "{model}/n{samples}_seed{seed}.log"),
    benchmark:
        P.benchmark("soft_targets", "{model}/n{samples}_seed{seed}.tsv")
    conda:
        TRAINING_ENV
    threads: lambda w: RES.soft_targets_job(PLAN, w.model, int(w.samples)).cpus
    resources:
        **GPU_CONSTRAINT(lambda w: RES.soft_targets_job(PLAN, w.model, int(w.samples))),
        gpu=1,
        cpus_per_task=lambda w: RES.soft_targets_job(PLAN, w.model, int(w.samples)).cpus,
        mem_mb=lambda w, attempt: RES.soft_targets_job(PLAN, w.model, int(w.samples)).mem(attempt),
        runtime=lambda w, attempt: CHAIN_CHECK(RES.soft_targets_job(PLAN, w.model, int(w.samples)).runtime(attempt)),
        gpu_mem_mb=lambda w: RES.soft_targets_job(PLAN, w.model, int(w.samples)).gpu_mb,
    params:
        py=PY,
        lease=LEASE,
        data_root=lambda w: PLAN.model(w.model).dataset.root,
        batch=lambda w: RES.soft_targets_batch(PLAN, w.model),
        device=PLAN.device,
    shell:
        "RANDSMOOTH_DATA_DIR={params.data_root:q} {params.lease}{params.py} -m randsmooth soft-targets "
        "--checkpoint {input.teacher:q} --num-samples {wildcards.samples} --seed {wildcards.seed} --batch {params.batch} "
        "--device {params.device:q} --num-threads {threads} --out {output:q} > {log:q} 2>&1"


rule train:
    input:
        # content-addressed (the folder name is the recipe's hash): rewriting the same file, e.g.
        # after a change to a helper rule, must not retrain, so only existence counts (ancient);
        # train refuses a recipe.json edited by hand (it no longer gives the folder's key)
        recipe=ancient(P.recipe),
        data=lambda w: ancient(P.dataset_record_of(PLAN, w.model)),
        soft_targets=lambda w: P.soft_targets_of(PLAN, w.model) or [],
        pretrained=lambda w: P.pretrained_of(PLAN, w.model) or [],
    output:
        P.weights,
    log:
        P.log("train", "{model}.log"),
    benchmark:
        P.benchmark("train", "{model}.tsv")
    conda:
        TRAINING_ENV
    threads: lambda w: RES.train_job(PLAN, w.model).cpus
    resources:
        **GPU_CONSTRAINT(lambda w: RES.train_job(PLAN, w.model)),
        gpu=1,
        cpus_per_task=lambda w: RES.train_job(PLAN, w.model).cpus,
        mem_mb=lambda w, attempt: RES.train_job(PLAN, w.model).mem(attempt),
        runtime=lambda w, attempt: CHAIN_CHECK(RES.train_job(PLAN, w.model).runtime(attempt)),
        gpu_mem_mb=lambda w: RES.train_job(PLAN, w.model).gpu_mb,
    params:
        py=PY,
        lease=LEASE,
        out_dir=lambda w, output: os.path.dirname(output[0]),
        data_root=lambda w: PLAN.model(w.model).dataset.root,
        device=PLAN.device,
        soft_targets=lambda w: commands.soft_targets_option(PLAN, P, w.model),
        init=lambda w: commands.init_option(PLAN, P, w.model),
        # under SLURM: stop before the allocation ends (exit 75), the retry resumes (a chain)
        time_budget=lambda w, resources: RES.time_budget(resources.runtime),
    shell:
        "RANDSMOOTH_DATA_DIR={params.data_root:q} OMP_NUM_THREADS={threads} "
        "{params.lease}{params.py} -m randsmooth train --config {input.recipe:q} {params.soft_targets} {params.init} "
        "${{SLURM_JOB_ID:+--time-budget {params.time_budget}}} "
        "--out {params.out_dir:q} --device {params.device:q} > {log:q} 2>&1"
