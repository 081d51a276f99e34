"""The four papers' tables, figures, published values and claims, built from certification runs.

* :mod:`.catalog` -- what each artifact is (torch-free; the workflow names its targets from it);
* :mod:`.data` -- the runs of a paper table (from the workflow's ``tables.json``) and their decisions;
* :mod:`.tables`, :mod:`.figures` -- writers: CSV + GitHub Markdown + booktabs LaTeX; PDF + PNG +
  the plotted data as CSV;
* :mod:`.published` -- the papers' printed values (``config/published/<paper>.yaml``), shown
  beside ours where the setting matches;
* :mod:`.cohen2019`, :mod:`.yang2020`, :mod:`.sun2025`, :mod:`.xin2025` -- one module per paper;
* :mod:`.published_logs` -- the same tables recomputed from the released per-example logs;
* :mod:`.claims` -- the papers' qualitative claims (``config/claims/<paper>.yaml``) checked on a run;
* :mod:`.readme`, :mod:`.index` -- each paper folder's README and ``results/index``.

Importing this package imports nothing heavy; the modules are imported where used.
"""
