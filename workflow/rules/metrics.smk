# Metrics: radii and paper metrics of one merged run under one variant (alpha, norm, budget,
# radii, cost matrix: the variant's .json), computed from the counts alone.


rule metrics_variant:
    output:
        P.variant,
    log:
        P.log("metrics_variant", "{run}/{variant}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        spec=lambda w: commands.variant_json(PLAN, w.run, w.variant),
    shell:
        "{params.py} -m randsmooth write-spec {output:q} {params.spec:q} 2> {log:q}"


rule metrics:
    input:
        counts=P.counts,
        spec=ancient(P.variant),  # content-addressed, like recipe.json
    output:
        csv=report(
            P.metrics_csv,
            caption="../report/metrics.rst",
            category="Certification runs",
            subcategory="{run}",
            labels={"run": "{run}", "metrics": "{variant}"},
        ),
        md=P.metrics_md,
        examples=P.metrics_examples,
    log:
        P.log("metrics", "{run}/{variant}.log"),
    benchmark:
        P.benchmark("metrics", "{run}/{variant}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
    shell:
        "{params.py} -m randsmooth metrics --table {input.counts:q} --spec {input.spec:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} --per-example {output.examples:q} > {log:q} 2>&1"
