# Paper artifacts: every table and figure of the four papers as a named target <paper>_<artifact>
# (randsmooth.papers.catalog), under results/papers/<paper>/<table>/; the tables rebuilt from the
# authors' released logs (<paper>_published_logs, when the config names a clone); each paper's
# README with its claims (<paper>_readme); <paper> and papers build everything; the appendix
# summaries keep every metric of every run in one place.


rule paper_tables:
    output:
        P.paper_tables,
    log:
        P.log("paper_tables", "{paper}.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        spec=lambda w: commands.paper_tables_json(PLAN, P, w.paper),
    shell:
        "{params.py} -m randsmooth write-spec {output:q} {params.spec:q} 2> {log:q}"


for _paper in PAPERS:
    for _artifact in P.artifacts(PLAN, _paper):

        rule:
            name:
                _artifact.target
            input:
                spec=P.paper_tables.format(paper=_paper),
                published=PUBLISHED.format(paper=_paper),
                counts=(P.counts_of(PLAN, _paper, P.artifact_tables(PLAN, _artifact)) if _artifact.counts else []),
                # CERTIFY's decisions at each table's reading: its metrics variants' (computed once, there)
                decisions=(
                    list(P.decisions_of(PLAN, _paper, P.artifact_tables(PLAN, _artifact)).values())
                    if _artifact.counts
                    else []
                ),
            output:
                artifact_outputs(_artifact),
            log:
                P.log("paper", f"{_artifact.target}.log"),
            benchmark:
                P.benchmark("paper", f"{_artifact.target}.tsv")
            localrule: True
            conda:
                ANALYSIS_ENV
            params:
                py=PY,
                name=_artifact.target,
                out_dir=lambda w, input: os.path.dirname(input.spec),  # results/papers/<paper>
                # a function: the caption's braces are text, not wildcards
                caption=lambda w, text=commands.artifact_caption(PLAN, _artifact): text,
            shell:
                "{params.py} -m randsmooth paper --spec {input.spec:q} --artifact {params.name} "
                "--published {input.published:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"

    if PLAN.papers[_paper]["published_logs"] is not None:

        rule:
            name:
                f"{_paper}_published_logs"
            input:
                spec=P.paper_tables.format(paper=_paper),
                published=PUBLISHED.format(paper=_paper),
            output:
                [
                    (
                        report(
                            path,
                            caption="../report/published_logs.rst",
                            category=_paper,
                            subcategory="published logs",
                            labels={"artifact": f"{_paper}_published_logs", "file": path.split("/")[-1]},
                        )
                        if path.endswith(".csv")
                        else path
                    )
                    for path in P.published_log_files(_paper)
                ],
            log:
                P.log("paper", f"{_paper}_published_logs.log"),
            localrule: True
            conda:
                ANALYSIS_ENV
            params:
                py=PY,
                stem=lambda w, output: os.path.splitext(output[0])[0],
                clone=PLAN.papers[_paper]["published_logs"],  # rerun when the clone or commit changes
            shell:
                "{params.py} -m randsmooth published-logs --spec {input.spec:q} --published {input.published:q} "
                "--out-stem {params.stem:q} > {log:q} 2>&1"

    rule:
        name:
            f"{_paper}_readme"
        input:
            spec=P.paper_tables.format(paper=_paper),
            claims=CLAIMS.format(paper=_paper),
            counts=P.counts_of(PLAN, _paper),
            decisions=list(P.decisions_of(PLAN, _paper).values()),
            tables=P.table_csvs(PLAN, _paper),  # for the published values they show
        output:
            readme=report(
                P.paper_readme.format(paper=_paper),
                caption="../report/paper_readme.rst",
                category=_paper,
                labels={"artifact": f"{_paper}_readme", "file": "README.md"},
            ),
            claims=report(
                P.paper_claims.format(paper=_paper),
                caption="../report/paper_readme.rst",
                category=_paper,
                labels={"artifact": f"{_paper}_readme", "file": "claims.csv"},
            ),
        log:
            P.log("paper", f"{_paper}_readme.log"),
        localrule: True
        conda:
            ANALYSIS_ENV
        params:
            py=PY,
            logs="--published-logs" if PLAN.papers[_paper]["published_logs"] is not None else "",
        shell:
            "{params.py} -m randsmooth paper-readme --spec {input.spec:q} --claims {input.claims:q} "
            "--tables {input.tables:q} {params.logs} --out-readme {output.readme:q} "
            "--out-claims {output.claims:q} > {log:q} 2>&1"

    rule:
        name:
            _paper
        input:
            P.paper_targets(PLAN, _paper),


rule papers:
    input:
        [f for paper in PAPERS for f in P.paper_targets(PLAN, paper)],


rule index:
    output:
        json=P.index_json,
        md=report(P.index_md, caption="../report/index.rst", category="Index", labels={"file": "index.md"}),
        csv=P.index_csv,
    log:
        P.log("index", "index.log"),
    localrule: True
    conda:
        ANALYSIS_ENV
    params:
        py=PY,
        spec=lambda w: commands.index_json(PLAN, P),  # a function: JSON braces are not wildcards
    shell:
        "{params.py} -m randsmooth write-spec {output.json:q} {params.spec:q} 2> {log:q} && {params.py} -m randsmooth index "
        "--spec {output.json:q} --out-md {output.md:q} --out-csv {output.csv:q} >> {log:q} 2>&1"


rule paper_summary:
    input:
        spec=P.paper_tables,
        metrics=lambda w: P.metrics_of(PLAN, w.paper),
    output:
        csv=report(
            P.paper_csv,
            caption="../report/paper_summary.rst",
            category="Appendix: every metric",
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
            category="Appendix: every metric",
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
