"""Every location the project reads or writes by default, relative to the repository root.

dvc.yaml passes each stage its paths as arguments; these are the defaults of the commands a
person runs, written once.
"""

from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")
DVC_LOCK = Path("dvc.lock")
DVC_YAML = Path("dvc.yaml")

MODEL = Path("models/model.joblib")
MODEL_ARTIFACT = "loan-approval"  # dvc.yaml's artifact, GTO's name and the BentoML model's
TEST_DATA = Path("data/processed/test.parquet")
TRAIN_DATA = Path("data/processed/train.parquet")
PROFILE = Path("data/reference/profile.json")
MODEL_CARD = Path("reports/model_card.md")  # written by the model_card stage
RETRAIN_SOURCE = Path("data/sources/applications.parquet")  # the data the retrain loop grows

INFERENCE_LOG = "logs/inference"  # a folder, or azure://<container>/<prefix>
INFERENCE_LOG_SPILL = (
    "logs/inference-spill"  # local folder the log writer sheds to while storage is down
)
LABELS = Path("logs/labels.csv")
LOG_CACHE = Path(".cache/inference-log")  # Parquet copy of the parsed log (drift, retrain)

RELEASE_STATE = Path(".release")  # local staging/production: pids, logs, state
PR_REPORT = Path("reports/pr")
DRIFT_REPORT = Path("reports/drift")
RETRAIN_REPORT = Path("reports/retrain")
