"""The traffic simulator: seeded, shifted as asked, into a log or against a served model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
import pandas as pd
import pytest
from drift_support import World, run_cli
from loopback_support import serve_in_thread

from underwrite.drift.logparse import required_fields
from underwrite.drift.simulate import SHIFTS, SimulationError, sample, shifted_columns
from underwrite.inference_log import SYNTHETIC_HEADER
from underwrite.params import ShiftParams


def test_same_seed_same_traffic_other_seed_other_order(world: World):
    shifts = world.params.drift.shifts
    one = sample(world.pool, 300, "new_category", shifts, np.random.default_rng(7))
    again = sample(world.pool, 300, "new_category", shifts, np.random.default_rng(7))
    other = sample(world.pool, 300, "new_category", shifts, np.random.default_rng(8))
    pd.testing.assert_frame_equal(one, again)
    assert not one.equals(other)


@pytest.mark.parametrize("shift", SHIFTS)
def test_each_shift_changes_only_what_it_says(world: World, shift: str):
    shifts = world.params.drift.shifts
    window = sample(world.pool, 400, shift, shifts, np.random.default_rng(0))
    plain = sample(world.pool, 400, "none", shifts, np.random.default_rng(0))
    if shift == "income_inflation":
        factor = shifts.income_inflation.factor
        for name in shifts.income_inflation.columns:
            assert window[name].sum() == pytest.approx(plain[name].sum() * factor)
        assert window["loanamt"].equals(plain["loanamt"])
    elif shift == "applicant_mix":
        mix = shifts.applicant_mix
        assert (window[mix.column] == mix.value).mean() == pytest.approx(mix.share, abs=0.01)
    elif shift == "new_category":
        share = (window[shifts.new_category.column] == shifts.new_category.value).mean()
        assert share == pytest.approx(shifts.new_category.share, abs=0.03)
    elif shift == "missing_surge":
        share = window[shifts.missing_surge.column].isna().mean()
        assert share == pytest.approx(shifts.missing_surge.share, abs=0.04)
    changed = [c for c in window.columns if not window[c].equals(plain[c])]
    if shift != "applicant_mix":  # the mix draws other applicants: every column changes
        assert changed == shifted_columns(shift, shifts)


@pytest.mark.parametrize(
    ("shifts", "message"),
    [
        ({"missing_surge": {"column": "self", "share": 0.1}}, "not nullable"),
        ({"new_category": {"column": "color", "value": 1, "share": 0.1}}, "not an application"),
    ],
)
def test_a_shift_the_service_could_never_log_is_refused(world, shifts, message):
    with pytest.raises(SimulationError, match=message):
        name = next(iter(shifts))
        sample(world.pool, 10, name, ShiftParams.model_validate(shifts), np.random.default_rng(0))


def test_simulate_writes_the_log_contract_and_labels(world: World, tmp_path: Path):
    data, model = tmp_path / "test.parquet", tmp_path / "model.joblib"
    world.pool.to_parquet(data)
    joblib.dump(world.model, model)
    done = run_cli(
        "simulate", "--rows", "250", "--shift", "missing_surge", "--seed", "3",
        "--to-log", str(tmp_path / "log"), "--labels-out", str(tmp_path / "labels.csv"),
        "--data", str(data), "--model", str(model),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [
        json.loads(line)
        for path in sorted((tmp_path / "log").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(records) == 250
    assert set(required_fields()) <= set(records[0])
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert sorted(labels["request_id"]) == sorted(r["request_id"] for r in records)
    assert set(labels["approve"]) <= {0, 1}
    assert not any(r["synthetic"] for r in records)  # stands in for real traffic


def simulate_into(tmp_path: Path, world: World, seed: int, *extra: str):
    data, model = tmp_path / "test.parquet", tmp_path / "model.joblib"
    if not data.exists():
        world.pool.to_parquet(data)
        joblib.dump(world.model, model)
    return run_cli(
        "simulate", "--rows", "120", "--seed", str(seed), "--to-log", str(tmp_path / "log"),
        "--labels-out", str(tmp_path / "labels.csv"), "--data", str(data), "--model", str(model),
        *extra,
    )  # fmt: skip


def logged_ids(folder: Path) -> list[str]:
    return [
        json.loads(line)["request_id"]
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_simulate_refuses_to_add_to_an_existing_log_without_append(world: World, tmp_path):
    assert simulate_into(tmp_path, world, 1).returncode == 0
    before = (tmp_path / "labels.csv").read_text()
    again = simulate_into(tmp_path, world, 2)
    assert again.returncode == 1  # bad input (underwrite.console)
    assert "already holds" in again.stderr and "pass --append" in again.stderr
    assert len(logged_ids(tmp_path / "log")) == 120
    assert (tmp_path / "labels.csv").read_text() == before


def test_simulate_refuses_to_replace_a_labels_file_without_append(world: World, tmp_path):
    (tmp_path / "labels.csv").write_text("request_id,approve\nkept,1\n")
    done = simulate_into(tmp_path, world, 1)
    assert done.returncode == 1  # bad input (underwrite.console)
    assert "labels.csv exists; pass --append" in done.stderr
    assert (tmp_path / "labels.csv").read_text() == "request_id,approve\nkept,1\n"


def test_simulate_append_adds_to_the_log_and_the_labels(world: World, tmp_path):
    assert simulate_into(tmp_path, world, 1).returncode == 0
    done = simulate_into(tmp_path, world, 2, "--append")
    assert done.returncode == 0, done.stderr
    ids = logged_ids(tmp_path / "log")
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert len(ids) == 240 and len(set(ids)) == 240
    assert sorted(labels["request_id"]) == sorted(ids)


class FakeService(BaseHTTPRequestHandler):
    """A served model on loopback: /predict_batch answers like the service, 422 on prop 4."""

    received: ClassVar[list] = []
    headers_seen: ClassVar[list] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeService.received.append((self.path, body))
        FakeService.headers_seen.append(dict(self.headers))
        if any(a["prop"] == 4 for a in body):
            self._send(422, {"error": "prop: must be one of 1, 2, 3"})
            return
        answers = [
            {"probability": 0.9, "approved": True, "request_id": f"r{len(self.received)}-{i}"}
            for i in range(len(body))
        ]
        self._send(200, answers)

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def service() -> Iterator[str]:
    FakeService.received = []
    FakeService.headers_seen = []
    with serve_in_thread(FakeService) as url:
        yield url


def test_simulate_posts_typed_batches_and_counts_refusals(world, service, tmp_path):
    from underwrite.drift.simulate import to_url

    shifts = world.params.drift.shifts
    refused, labels = to_url(
        world.pool, service, rows=300, shift="new_category", params=shifts, seed=1, batch=50
    )
    assert all(path == "/predict_batch" for path, _ in FakeService.received)
    assert len(FakeService.received) == 6
    first = FakeService.received[0][1][0]
    assert isinstance(first["prop"], int) and isinstance(first["loanamt"], float)
    assert 0 < refused < 300 and refused % 50 == 0  # whole batches with a new category
    assert len(labels) == 300 - refused
    assert labels["request_id"].str.startswith("r").all()
    # synthetic traffic: the service logs it as such, and drift leaves it out
    assert all(h.get(SYNTHETIC_HEADER) == "1" for h in FakeService.headers_seen)


def test_simulate_names_an_unreachable_service(world, tmp_path):
    from underwrite.drift.simulate import to_url

    with pytest.raises(SimulationError, match="predict_batch: cannot reach it"):
        to_url(world.pool, "http://127.0.0.1:9", rows=10, shift="none",
               params=world.params.drift.shifts, seed=0, timeout=2)  # fmt: skip
