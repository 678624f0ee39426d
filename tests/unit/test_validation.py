"""Data validation: a clean frame passes; each broken rule names the column, rule and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underwrite.schema import LABEL
from underwrite.validation import EXAMPLES, validate_frame

MIN_ROWS, MAX_AUC = 100, 0.95


def check(frame: pd.DataFrame):
    return validate_frame(frame, MIN_ROWS, MAX_AUC)


def test_clean_frame_passes(clean_frame):
    result = check(clean_frame)

    assert result.passed, [f.message() for f in result.failures]
    assert result.rows == len(clean_frame)
    assert result.single_feature_auc  # the leakage screen ran
    assert max(result.single_feature_auc.values()) <= MAX_AUC


def drop_loanamt(frame):
    return frame.drop(columns=["loanamt"])


def string_in_numeric(frame):
    frame["loanamt"] = frame["loanamt"].astype(object)
    frame.loc[3, "loanamt"] = "lots"
    return frame


def out_of_range(frame):
    frame.loc[[2, 5], "loanamt"] = -5.0
    return frame


def bad_category(frame):
    frame.loc[4, "cons"] = 9.0
    return frame


def bad_binary(frame):
    frame.loc[[1, 6], "suffolk"] = 2.0
    return frame


def null_in_non_nullable(frame):
    frame.loc[7, "appinc"] = np.nan
    return frame


def feature_equal_to_label(frame):
    frame["gdlin"] = frame[LABEL]
    return frame


BROKEN = [  # (how the frame is broken, the column and rule named, the example rows shown)
    (drop_loanamt, "loanamt", "is missing", []),
    (string_in_numeric, "loanamt", "wrong type: must be numeric", [3]),
    (out_of_range, "loanamt", "must be between 1 and 10000 (thousands of dollars)", [2, 5]),
    (bad_category, "cons", "must be one of 1, 2, 3, 4, 5, 6", [4]),
    (bad_binary, "suffolk", "must be one of 0, 1", [1, 6]),
    (null_in_non_nullable, "appinc", "has missing values but the schema allows none", [7]),
    (feature_equal_to_label, "gdlin", "predicts 'approve' alone (ROC AUC 1.000", []),
]


@pytest.mark.parametrize(
    ("breaks", "column", "rule", "example_rows"), BROKEN, ids=[b[0].__name__ for b in BROKEN]
)
def test_broken_rule_fails_naming_column_rule_and_rows(
    clean_frame, breaks, column, rule, example_rows
):
    result = check(breaks(clean_frame.copy()))

    assert not result.passed
    assert len(result.failures) == 1, [f.message() for f in result.failures]
    failure = result.failures[0]
    assert failure.column == column
    assert failure.rule.startswith(rule)
    assert [e["row"] for e in failure.examples] == example_rows
    assert f"column '{column}'" in failure.message()
    for row in example_rows:
        assert f"row {row}: " in failure.message()


def test_label_leakage_is_called_leakage(clean_frame):
    result = check(feature_equal_to_label(clean_frame))

    assert "label leakage" in result.failures[0].message()
    assert result.single_feature_auc["gdlin"] == 1.0


def test_too_few_rows_fails_naming_the_minimum(clean_frame):
    result = check(clean_frame.head(MIN_ROWS - 1))

    assert [f.message() for f in result.failures] == [
        f"the data has {MIN_ROWS - 1} rows; at least {MIN_ROWS} are needed"
    ]


def test_failure_examples_are_capped(clean_frame):
    clean_frame.loc[:, "loanamt"] = -1.0

    (failure,) = check(clean_frame).failures

    assert failure.rows == len(clean_frame)
    assert len(failure.examples) == EXAMPLES
    assert f"{len(clean_frame)} rows" in failure.message()


def test_sentinels_are_counted_not_failed(clean_frame):
    clean_frame.loc[[1, 2], "term"] = 999999.375
    clean_frame.loc[3, "review"] = 999
    clean_frame.loc[4, "gdlin"] = 666
    clean_frame.loc[[5, 6, 7], "appinc"] = 666
    clean_frame.loc[8, "liq"] = 1_000_000

    result = check(clean_frame)

    assert result.passed, [f.message() for f in result.failures]
    expected = {"appinc": 3, "liq": 1, "gdlin": 1, "lines": 0, "term": 2, "review": 1}
    assert result.sentinels == expected


@pytest.mark.parametrize("code", [2, 5, 10])
def test_employment_code_outside_the_sources_codes_fails(clean_frame, code):
    clean_frame.loc[0, "emp"] = code

    (failure,) = check(clean_frame).failures

    assert failure.column == "emp" and "must be one of 0, 1, 6, 9" in failure.rule


def test_missing_values_in_nullable_columns_are_counted_not_failed(clean_frame):
    clean_frame.loc[[0, 9], "male"] = np.nan
    clean_frame.loc[5, "dep"] = np.nan

    result = check(clean_frame)

    assert result.passed, [f.message() for f in result.failures]
    assert result.missing == {"dep": 1, "male": 2}


def test_several_broken_rules_are_all_reported(clean_frame):
    broken = bad_category(out_of_range(drop_loanamt(clean_frame).assign(loanamt=1.0)))

    result = check(broken)

    assert {(f.column, f.rule.split(" ")[0]) for f in result.failures} == {
        ("loanamt", "must"),
        ("cons", "must"),
    }


def test_result_as_dict_is_the_report(clean_frame):
    report = check(out_of_range(clean_frame)).as_dict()

    assert report["passed"] is False
    assert report["failures"][0]["column"] == "loanamt"
    assert report["failures"][0]["examples"][0] == {"row": 2, "value": "-5.0"}
