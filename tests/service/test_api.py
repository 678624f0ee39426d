"""The request model is the schema's columns, documented and validated as the schema says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from underwrite.schema import BY_NAME, Role, feature_columns, names
from underwrite.serving.contract import application_model, batch_type, golden_applications, to_frame


@pytest.fixture(scope="module")
def application():
    return application_model(include_protected=False)


def test_request_fields_are_every_column_a_model_may_use(application):
    assert list(application.model_fields) == names(feature_columns(include_protected=True))


def test_openapi_schema_documents_units_ranges_categories_and_nulls(application):
    properties = application.model_json_schema()["properties"]
    assert properties["loanamt"]["minimum"] == BY_NAME["loanamt"].minimum
    assert properties["loanamt"]["maximum"] == BY_NAME["loanamt"].maximum
    assert properties["loanamt"]["unit"] == "thousands of dollars"
    assert BY_NAME["loanamt"].description in properties["loanamt"]["description"]
    assert properties["occ"]["enum"] == [1, 2, 3]
    assert {"type": "null"} in properties["married"]["anyOf"]
    assert {"const": 999999.375, "description": "unknown"} in properties["term"]["anyOf"]


def test_features_are_required_and_protected_attributes_optional_unless_used(application):
    required = set(application.model_json_schema()["required"])
    assert required == set(names(feature_columns(include_protected=False)))
    with_protected = application_model(include_protected=True).model_json_schema()["required"]
    assert set(with_protected) == set(names(feature_columns(include_protected=True)))
    protected = [c.name for c in feature_columns(True) if c.role is Role.PROTECTED]
    assert all("fairness monitoring" in application.model_fields[p].description for p in protected)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loanamt", 0, "greater than or equal to 1"),
        ("loanamt", 10_001, "less than or equal to 10000"),
        ("loanamt", "5", "valid number"),
        ("loanamt", None, "valid number"),
        ("loanamt", float("nan"), "finite number"),
        ("appinc", float("inf"), "finite number"),
        ("occ", 4, "Input should be 1, 2 or 3"),
        ("suffolk", 2, "Input should be 0 or 1"),
        ("term", 999999.0, "between 1 and 600 months, or 999999.375 for unknown"),
        ("colour", "blue", "Extra inputs are not permitted"),
    ],
)
def test_bad_field_is_refused_naming_field_and_rule(application, field, value, message):
    with pytest.raises(ValidationError, match=message) as raised:
        application(**{**golden_applications()[0], field: value})
    assert raised.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(("field", "value"), [("term", 999999.375), ("gdlin", 666), ("unit", None)])
def test_unknown_codes_and_nulls_the_schema_allows_are_accepted(application, field, value):
    assert getattr(application(**{**golden_applications()[0], field: value}), field) == value


def test_batch_must_hold_between_one_and_the_maximum_applications(application):
    from pydantic import TypeAdapter

    batch = TypeAdapter(batch_type(application, max_items=2))
    one = golden_applications()[0]
    assert len(batch.validate_python([one, one])) == 2
    with pytest.raises(ValidationError, match="at least 1 item"):
        batch.validate_python([])
    with pytest.raises(ValidationError, match="at most 2 items"):
        batch.validate_python([one] * 3)


def test_golden_applications_are_valid_and_cover_nulls_and_unknown_codes(application):
    rows = [application(**row) for row in golden_applications()]
    frame = to_frame(rows, names(feature_columns(include_protected=False)))
    assert frame.isna().any().any()
    assert (frame["term"] == 999999.375).any()
    assert frame.dtypes.eq("float64").all()
    assert list(frame.columns) == names(feature_columns(include_protected=False))
