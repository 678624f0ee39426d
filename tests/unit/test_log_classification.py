"""Every inference-log field is classified for data governance."""

from __future__ import annotations

from underwrite import inference_log
from underwrite.inference_log import DataClass, classification, fields_of
from underwrite.schema import Role, columns_with


def _record_fields() -> set[str]:
    record = inference_log.record(
        {}, request_id="r", timestamp="t", model_version="v", model_md5="m",
        probability=0.5, approved=True,
    )  # fmt: skip
    return set(record)


def test_every_field_a_record_holds_is_classified():
    assert set(classification()) == _record_fields()


def test_protected_attributes_are_personal_and_protected_not_model_input():
    protected = [c.name for c in columns_with({Role.PROTECTED})]
    assert protected and fields_of(DataClass.PROTECTED) == protected
    for name in protected:
        assert classification()[name] == {DataClass.PERSONAL, DataClass.PROTECTED}


def test_features_and_the_decision_are_personal_and_request_metadata_is_not():
    personal = set(fields_of(DataClass.PERSONAL))
    assert set(fields_of(DataClass.MODEL_INPUT)) <= personal
    assert {inference_log.PROBABILITY, inference_log.APPROVED} <= personal
    assert not {inference_log.REQUEST_ID, inference_log.TIMESTAMP} & personal
