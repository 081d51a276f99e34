# Paper artifacts. For now: one summary per paper (every table's metrics, one row per run) and
# the combined summary of all enabled papers. Paper figures and formatted tables come later.


rule paper_tables:
    output:
        P.paper_tables,
    log:
        P.log("paper_tables", "{paper}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        spec=lambda w: commands.paper_tables_json(PLAN, P, w.paper),
    shell:
        "printf '%s\\n' {params.spec:q} > {output:q} 2> {log:q}"


rule paper_summary:
    input:
        spec=P.paper_tables,
        metrics=lambda w: P.metrics_of(PLAN, w.paper),
    output:
        csv=report(
            P.paper_csv,
            caption="../report/paper_summary.rst",
            category="Papers",
            subcategory="{paper}",
            labels={"paper": "{paper}", "table": "summary"},
        ),
        md=P.paper_md,
    log:
        P.log("paper_summary", "{paper}.log"),
    benchmark:
        P.benchmark("paper_summary", "{paper}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
    shell:
        "{params.py} -m randsmooth summary --spec {input.spec:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} > {log:q} 2>&1"


rule summary:
    input:
        specs=expand(P.paper_tables, paper=PLAN.papers),
        metrics=P.metrics_of(PLAN),
    output:
        csv=report(
            P.summary_csv,
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "all papers"},
        ),
        md=P.summary_md,
    log:
        P.log("summary", "summary.log"),
    benchmark:
        P.benchmark("summary", "summary.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
    shell:
        "{params.py} -m randsmooth summary --spec {input.specs:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} > {log:q} 2>&1"
