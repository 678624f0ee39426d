"""`make run`'s closing summary: the headline numbers with their intervals, then next steps."""

from __future__ import annotations

import json
from pathlib import Path

from underwrite.report.summary import summary


def test_summary_shows_metrics_and_fairness_with_intervals(tmp_path: Path) -> None:
    metrics = {
        "roc_auc": 0.9, "roc_auc_ci_low": 0.85, "roc_auc_ci_high": 0.95,
        "interval_method": "percentile bootstrap",
        "fairness": {"race": {"approval_rate_gap": 0.3, "approval_rate_gap_ci_low": 0.2,
                              "approval_rate_gap_ci_high": 0.4}},
    }  # fmt: skip
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    text = summary(tmp_path)
    assert "roc_auc                      0.900 [0.850, 0.950]" in text
    assert "race approval rate gap       0.300 [0.200, 0.400]" in text
    assert "(percentile bootstrap)" in text and "make serve" in text


def test_summary_without_metrics_says_the_pipeline_did_not_finish(tmp_path: Path) -> None:
    assert "did `dvc repro` finish?" in summary(tmp_path)
