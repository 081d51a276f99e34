# Metrics: radii and paper metrics of one merged run under one variant (alpha, norm, budget,
# cost matrix, ...), computed from the counts alone.


rule cost_matrix:
    output:
        WF.pattern("cost"),
    log:
        WF.log_path("cost_matrix", "{cost}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        matrix=lambda w: WF.cost_json(w.cost),
    shell:
        "printf '%s\\n' {params.matrix:q} > {output:q} 2> {log:q}"


rule metrics:
    input:
        unpack(lambda w: WF.metrics_inputs(w.run, w.variant)),
    output:
        csv=report(
            WF.pattern("metrics_csv"),
            caption="../report/metrics.rst",
            category="Certification runs",
            subcategory="{run}",
            labels={"run": "{run}", "metrics": "{variant}"},
        ),
        md=WF.pattern("metrics_md"),
        examples=WF.pattern("metrics_examples"),
    log:
        WF.log_path("metrics", "{run}/{variant}.log"),
    benchmark:
        WF.benchmark_path("metrics", "{run}/{variant}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=lambda w: PY,
        args=lambda w: WF.metrics_args(w.run, w.variant),
    shell:
        "{params.py} -m randsmooth metrics --table {input.table:q} {params.args} --out-csv {output.csv:q} "
        "--out-md {output.md:q} --per-example {output.examples:q} > {log:q} 2>&1"
