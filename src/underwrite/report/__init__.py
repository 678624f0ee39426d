"""The pull-request report: what a change did to the pipeline and to the model.

`underwrite report --base REV` compares the workspace (head, as `dvc repro` left it) with
git revision REV (base) and writes Markdown for `cml comment update`, with PNG plots beside
it: changed parameters, every metric, fairness, the gate's verdict, plots side by side,
which stages ran or were reused, the data version of each side, and head's validation.

Modules: sources (git, dvc, dvc.yaml), compare, repro_log, lock, figures, content (the two
sides and what the report holds), markdown, build (the whole report), commands (the CLI).
Importing this package loads none of them.
"""
