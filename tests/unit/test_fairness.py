"""Fairness by group, checked against rates computed by hand from a tiny frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from underwrite.fairness import fairness_report, gaps, group_table, impact_ratios
from underwrite.judgement.bootstrap import judge
from underwrite.params import BootstrapParams

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
        denied = members[members["y"] == 0]
        rows[group] = {
            "applications": len(members),
            "observed_approval_rate": members["y"].mean(),
            "approval_rate": members["approved"].mean(),
            "true_positive_rate": deserving["approved"].mean(),
            "false_positive_rate": denied["approved"].mean() if len(denied) else np.nan,
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

    result = gaps(run_group_table("race"))

    for gap, rate in {
        "approval_rate_gap": "approval_rate",
        "tpr_gap": "true_positive_rate",
        "fpr_gap": "false_positive_rate",
        "observed_approval_rate_gap": "observed_approval_rate",
    }.items():
        column = expected[rate].astype(float)
        assert result[gap] == pytest.approx(column.max() - column.min(), abs=1e-6), gap


def test_gaps_and_ratios_on_numbers_worked_out_on_paper():
    # white approved 3 of 5 (0.6), black 2 of 4 (0.5), hispanic 2 of 2 (1.0)
    table = run_group_table("race")

    assert gaps(table)["approval_rate_gap"] == pytest.approx(0.5)
    ratios = impact_ratios(table, "hispanic")
    assert ratios.to_dict() == pytest.approx({"white": 0.6, "black": 0.5, "hispanic": 1.0})


def test_gaps_are_zero_when_groups_are_treated_alike():
    table = group_table(
        pd.Series([1, 0, 1, 0]), np.array([1, 0, 1, 0]), pd.Series(["a", "a", "b", "b"])
    )

    assert gaps(table) == {
        "approval_rate_gap": 0.0,
        "tpr_gap": 0.0,
        "fpr_gap": 0.0,
        "observed_approval_rate_gap": 0.0,
    }


def report():
    y, approved = APPLICATIONS["y"], APPLICATIONS["approved"].to_numpy()
    groups = APPLICATIONS[["race", "sex"]]
    judgement = judge(
        y.to_numpy(), approved.astype(float), 0.5, groups, BootstrapParams(resamples=50)
    )
    return fairness_report(y, approved, groups, judgement)


def test_fairness_report_gives_gaps_once_and_groups_once_with_intervals():
    summary, detail = report()

    assert set(summary) == {"race", "sex"}
    assert set(detail) == {"race", "sex", "interval_method"}
    assert "percentile bootstrap" in detail["interval_method"]
    race = summary["race"]
    assert race["approval_rate_gap"] == pytest.approx(0.5)
    assert race["approval_rate_gap_ci_low"] <= race["approval_rate_gap_ci_high"]
    assert race["adverse_impact_ratio"] == pytest.approx(0.5)  # black 0.5 over hispanic 1.0
    assert "groups" not in summary["race"] and "approval_rate_gap" not in detail["race"]


def test_fairness_report_groups_are_plain_json_with_sizes_rates_and_flags():
    _, detail = report()

    assert json.loads(json.dumps(detail)) == detail
    assert detail["race"]["reference_group"] == "hispanic"  # the most approved
    white = detail["race"]["groups"]["white"]
    expected = expected_table(APPLICATIONS, "race").loc["white"]
    assert white["applications"] == expected["applications"] == 5
    assert isinstance(white["applications"], int)
    assert white["approval_rate"] == pytest.approx(expected["approval_rate"])
    for name in ("approval_rate", "true_positive_rate", "false_positive_rate"):
        assert white[name + "_ci_low"] <= white[name] <= white[name + "_ci_high"], name
    flags = {g: v["below_four_fifths"] for g, v in detail["race"]["groups"].items()}
    assert flags == {"white": True, "black": True, "hispanic": False}
