# Paper artifacts. For now: one summary per paper (every table's metrics, one row per run) and
# the combined summary of all enabled papers. Paper figures and formatted tables come later.


rule paper_summary:
    input:
        lambda w: WF.metrics_paths(WF.paper_entries(w.paper)),
    output:
        csv=report(
            WF.pattern("paper_csv"),
            caption="../report/paper_summary.rst",
            category="Papers",
            subcategory="{paper}",
            labels={"paper": "{paper}", "table": "summary"},
        ),
        md=WF.pattern("paper_md"),
    log:
        WF.log_path("paper_summary", "{paper}.log"),
    benchmark:
        WF.benchmark_path("paper_summary", "{paper}.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=lambda w: PY,
        spec=lambda w: WF.summary_spec(w.paper),
    shell:
        "{params.py} -m randsmooth.workflow_config summary --spec {params.spec:q} "
        "--out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"


rule summary:
    input:
        WF.metrics_paths(WF.paper_entries()),
    output:
        csv=report(
            WF.pattern("summary_csv"),
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "all papers"},
        ),
        md=WF.pattern("summary_md"),
    log:
        WF.log_path("summary", "summary.log"),
    benchmark:
        WF.benchmark_path("summary", "summary.tsv")
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=lambda w: PY,
        spec=lambda w: WF.summary_spec(),
    shell:
        "{params.py} -m randsmooth.workflow_config summary --spec {params.spec:q} "
        "--out-csv {output.csv:q} --out-md {output.md:q} > {log:q} 2>&1"
