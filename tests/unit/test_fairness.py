"""Fairness by group, checked against rates computed by hand from a tiny frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from underwrite.fairness import fairness_report, gaps, group_table

# Who applied, who should be approved (y), who the model approved, and their groups.
APPLICATIONS = pd.DataFrame(
    {
        "y": [1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1],
        "approved": [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0],
        "race": ["white"] * 5 + ["black"] * 4 + ["hispanic"] * 2 + ["unknown"],
        "sex": ["male", "female"] * 5 + ["unknown", "female"],
    }
)


def expected_table(frame: pd.DataFrame, grouping: str) -> pd.DataFrame:
    """The per-group rates, by plain pandas, without the code under test."""
    rows = {}
    for group, members in frame[frame[grouping] != "unknown"].groupby(grouping):
        deserving = members[members["y"] == 1]
        rows[group] = {
            "applications": len(members),
            "observed_approval_rate": members["y"].mean(),
            "approval_rate": members["approved"].mean(),
            "true_positive_rate": deserving["approved"].mean(),
        }
    return pd.DataFrame(rows).T


def run_group_table(grouping: str) -> pd.DataFrame:
    return group_table(
        APPLICATIONS["y"], APPLICATIONS["approved"].to_numpy(), APPLICATIONS[grouping]
    )


@pytest.mark.parametrize("grouping", ["race", "sex"])
def test_group_table_matches_rates_counted_by_hand(grouping):
    table = run_group_table(grouping)
    expected = expected_table(APPLICATIONS, grouping)

    assert sorted(table.index) == sorted(expected.index)
    for column in expected:
        np.testing.assert_allclose(
            table.loc[expected.index, column].astype(float), expected[column].astype(float)
        )


def test_group_table_leaves_out_unknown_groups():
    assert "unknown" not in run_group_table("race").index
    assert run_group_table("race")["applications"].sum() == 11


def test_gaps_are_best_minus_worst_group():
    expected = expected_table(APPLICATIONS, "race")
    rate, tpr = expected["approval_rate"], expected["true_positive_rate"]

    result = gaps(run_group_table("race"))

    assert result["approval_rate_gap"] == pytest.approx(rate.max() - rate.min(), abs=1e-6)
    assert result["approval_rate_ratio"] == pytest.approx(rate.min() / rate.max(), abs=1e-6)
    assert result["tpr_gap"] == pytest.approx(tpr.max() - tpr.min(), abs=1e-6)
    observed = expected["observed_approval_rate"]
    assert result["observed_approval_rate_gap"] == pytest.approx(
        observed.max() - observed.min(), abs=1e-6
    )


def test_gaps_on_numbers_worked_out_on_paper():
    # white approved 3 of 5 (0.6), black 2 of 4 (0.5), hispanic 2 of 2 (1.0)
    result = gaps(run_group_table("race"))

    assert result["approval_rate_gap"] == pytest.approx(0.5)
    assert result["approval_rate_ratio"] == pytest.approx(0.5)


def test_gaps_are_zero_when_groups_are_treated_alike():
    table = group_table(
        pd.Series([1, 0, 1, 0]), np.array([1, 0, 1, 0]), pd.Series(["a", "a", "b", "b"])
    )

    assert gaps(table) == {
        "approval_rate_gap": 0.0,
        "approval_rate_ratio": 1.0,
        "tpr_gap": 0.0,
        "observed_approval_rate_gap": 0.0,
    }


def test_fairness_report_covers_race_and_sex_as_plain_json():
    report = fairness_report(
        APPLICATIONS["y"], APPLICATIONS["approved"].to_numpy(), APPLICATIONS[["race", "sex"]]
    )

    assert set(report) == {"race", "sex"}
    assert json.loads(json.dumps(report)) == report
    white = report["race"]["groups"]["white"]
    expected = expected_table(APPLICATIONS, "race").loc["white"]
    assert white["applications"] == expected["applications"] == 5
    assert isinstance(white["applications"], int)
    assert white["approval_rate"] == pytest.approx(expected["approval_rate"])
    assert report["sex"]["gaps"] == gaps(run_group_table("sex"))
