"""The example requests in examples/ are valid applications the service answers with 200."""

from __future__ import annotations

import pytest
from bentoml_support import REPO_ROOT

from underwrite.serving.contract import application_model
from underwrite.serving.examples import load_example

EXAMPLES = REPO_ROOT / "examples"


@pytest.mark.parametrize("name", ["approved", "denied"])
def test_example_application_is_a_valid_request(name: str) -> None:
    application_model(False)(**load_example(EXAMPLES, name))


def test_example_batch_is_a_list_of_valid_requests() -> None:
    batch = load_example(EXAMPLES, "batch")
    assert len(batch) >= 2
    for application in batch:
        application_model(False)(**application)
