"""Requests marked with X-Underwrite-Synthetic: 1 are flagged in the inference log."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from bentoml_support import Server

from underwrite import inference_log
from underwrite.serving.contract import golden_applications

pytestmark = pytest.mark.integration


def _records_for(server: Server, request_ids: set[str], timeout: float = 20) -> dict[str, dict]:
    """The log records of REQUEST_IDS, once the writer (flushing every second) has them."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict] = {}
    while time.monotonic() < deadline and len(found) < len(request_ids):
        for path in inference_log.log_files(server.inference_log):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record[inference_log.REQUEST_ID] in request_ids:
                    found[record[inference_log.REQUEST_ID]] = record
        time.sleep(0.5)
    return found


@pytest.mark.parametrize("route", ["/predict", "/predict_batch"])
def test_synthetic_header_marks_the_record_and_its_absence_does_not(served: Server, route):
    application = golden_applications()[1]
    body = application if route == "/predict" else [application]
    marked = {inference_log.SYNTHETIC_HEADER: inference_log.SYNTHETIC_HEADER_VALUE}
    ids = {}
    for synthetic, headers in ((True, marked), (False, {})):
        answer = httpx.post(f"{served.url}{route}", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        prediction = answer.json() if route == "/predict" else answer.json()[0]
        ids[prediction["request_id"]] = synthetic
    records = _records_for(served, set(ids))
    assert {i: r[inference_log.SYNTHETIC] for i, r in records.items()} == ids
