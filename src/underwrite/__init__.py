"""underwrite: a reproducible, fairness-aware mortgage-approval model.

The map, one line a part (each package's own docstring has its details):

- ``schema``      the one data contract: every column's role, type, range and meaning
- ``params``      params.yaml as typed objects; ``paths``: every default location
- ``stages/``     one module per DVC stage (ingest, validate, prepare, train, evaluate, profile)
- ``model``       the scikit-learn Pipeline built from params (pickles name this module)
- ``judgement/``  bootstrap intervals, the fixed holdout, paired comparisons
- ``validation``, ``fairness``, ``gate``, ``io``, ``inference_log``: what the stages and
  the service share
- ``serving/``    the BentoML service and what only it uses
- ``release/``    registry (GTO tags), bento build, staging/production, gate, rollback
- ``report/``     the pull-request report
- ``drift/``      reference profile, log windows, statistics, the traffic simulator
- ``retrain/``    labelled production data back to a new data version and its pull request
- ``storage/``    the blob remote: Azurite emulator, credentials, doctor
- ``repo``        git and DVC file look-ups; ``console``: logging, errors and exit codes
- ``cli``         the ``underwrite`` command (typer); dvc.yaml and the Makefile call it
"""
