"""Closing the loop: labels joined to the log, a new data version, retraining, the PR."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
import yaml
from drift_support import World, git, run_in
from loopback_support import serve_in_thread

from underwrite.judgement.holdout import identity_bytes
from underwrite.retrain import RetrainError
from underwrite.retrain.evidence import Labels, labels_statement, twins
from underwrite.retrain.github import GitHub, open_or_update_pr
from underwrite.retrain.loop import join, read_labels
from underwrite.validation import validate_frame


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("request_id,outcome\na,1\n", r"missing column\(s\) approve"),
        ("request_id,approve\na,1\nb,yes\n", "approve must be 0 or 1"),
        ("request_id,approve\na,1\na,0\n", "request id 'a' appears more than once"),
        (None, "no such file"),
    ],
)
def test_a_bad_labels_file_is_refused_naming_the_problem(content, message, tmp_path):
    path = tmp_path / "labels.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RetrainError, match=message):
        read_labels(str(path))


def test_joined_rows_meet_the_data_contract(world: World):
    window = world.window("none", 0)
    applications = window.assign(request_id=[f"r{i}" for i in range(len(window))])
    labels = pd.DataFrame(
        {"request_id": [*(f"r{i}" for i in range(0, len(window), 2)), "unknown"],
         "approve": [*window["approve"].iloc[::2].astype(int).tolist(), 1]}
    )  # fmt: skip
    rows, unmatched = join(applications, labels)
    assert unmatched == 1 and len(rows) == len(labels) - 1
    assert (rows["reject"] == 1 - rows["approve"]).all()
    result = validate_frame(
        rows, min_rows=100, max_auc=world.params.validate_.max_single_feature_auc
    )
    assert result.passed, [f.message() for f in result.failures]


def test_twins_counts_new_rows_that_repeat_the_data_or_each_other(world: World):
    existing = world.train.iloc[:50]
    replayed = pd.concat([world.train.iloc[:3], world.pool.iloc[:2], world.pool.iloc[:1]])

    found = twins(existing, replayed, world.params.prepare)

    assert (found.added, found.of_existing, found.within_new) == (6, 3, 1)
    assert found.held_out == 3  # the pool is the holdout: its replays stay on that side


@pytest.mark.parametrize(
    ("agree", "feedback"), [(10, True), (9, False)]
)  # fmt: skip
def test_labels_that_are_the_models_own_decisions_are_named_a_feedback_loop(agree, feedback):
    statement = labels_statement(Labels(rows=10, agree_with_model=agree))

    assert "Labels are underwriting decisions" in statement
    assert f"{agree} of 10 labels" in statement
    assert ("this is a feedback loop" in statement) == feedback


class FakeGitHub(BaseHTTPRequestHandler):
    """GitHub's pull-request API on loopback: the one part of the loop that cannot run here."""

    pulls: ClassVar[list[dict]] = []
    calls: ClassVar[list[tuple[str, str]]] = []

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else {}

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path))
        head = self.path.split("head=")[1].split("&")[0].split(":")[1]
        self._send(200, [p for p in self.pulls if p["head"] == head])

    def do_POST(self) -> None:
        body = self._body()
        self.calls.append(("POST", self.path))
        if self.headers["Authorization"] != "Bearer secret-token":
            self._send(401, {"message": "Bad credentials"})
            return
        pull = {"number": 7 + len(self.pulls), "head": body["head"], "body": body["body"]}
        self.pulls.append(pull)
        self._send(201, pull)

    def do_PATCH(self) -> None:
        body = self._body()
        self.calls.append(("PATCH", self.path))
        number = int(self.path.rsplit("/", 1)[1])
        pull = next(p for p in self.pulls if p["number"] == number)
        pull["body"] = body["body"]
        self._send(200, pull)

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def github_api() -> Iterator[str]:
    FakeGitHub.pulls, FakeGitHub.calls = [], []
    with serve_in_thread(FakeGitHub) as url:
        yield url


def test_the_retraining_pr_is_opened_once_then_updated(github_api: str):
    github = GitHub("acme/underwrite", "secret-token", github_api)
    number, created = open_or_update_pr(github, "drift/retrain", "main", "Retrain", "first")
    assert created and number == 7
    again, created_again = open_or_update_pr(github, "drift/retrain", "main", "Retrain", "second")
    assert (again, created_again) == (7, False)
    assert FakeGitHub.pulls == [{"number": 7, "head": "drift/retrain", "body": "second"}]
    assert ("PATCH", "/repos/acme/underwrite/pulls/7") in FakeGitHub.calls


def test_a_refused_github_call_says_what_github_said(github_api: str):
    github = GitHub("acme/underwrite", "wrong", github_api)
    with pytest.raises(RetrainError, match=r"401 .*Bad credentials"):
        open_or_update_pr(github, "drift/retrain", "main", "Retrain", "body")


@pytest.fixture(scope="module")
def trained_repo(trained_template, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after `dvc repro` from scratch, committed."""
    return trained_template.copy(tmp_path_factory.mktemp("loop") / "repo")


@pytest.mark.integration
def test_retrain_loop_turns_drift_into_a_new_data_version_and_a_retrained_model(
    trained_repo: Path, tmp_path: Path, azurite
):
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)  # the fixture stays as trained
    assert (repo / "data/reference/profile.json").is_file()
    simulate = run_in(
        repo, "underwrite", "simulate", "--rows", "400", "--shift", "income_inflation",
        "--to-log", "logs/inference", "--labels-out", "logs/labels.csv", "--days", "3",
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr
    lock_before = yaml.safe_load((repo / "dvc.lock").read_text())
    container = "retrain-loop"
    azurite.ensure_container(container)
    remote = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    run_in(repo, "dvc", "remote", "modify", "--local", "blob", "url", f"azure://{container}")
    done = run_in(repo, "underwrite", "retrain", "loop", "--push", env=remote)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "retrained" in done.stdout
    report = (repo / "reports/retrain/report.md").read_text()
    assert "## New data version" in report and "400 labelled production applications" in report
    # honest numbers: no held-out application (or its twin) in training, both models paired
    train = pd.read_parquet(repo / "data/processed/train.parquet")
    holdout = pd.read_parquet(repo / "data/processed/test.parquet")
    assert not set(identity_bytes(holdout).tolist()) & set(identity_bytes(train).tolist())
    assert f"Both models score the same {len(holdout)} held-out rows" in report
    assert re.search(r"\| roc_auc \| 0\.\d{4} \| 0\.\d{4} \| [+-]0\.\d{4} \[", report), report
    assert re.search(r"Of 400 new rows, \d+ are exact twins of rows already in the data", report)
    assert "Labels are underwriting decisions" in report
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"] == {
        "source": "data/sources/applications.parquet",
        "watch": "data/sources/applications.parquet",
    }
    assert (repo / "data/sources/applications.parquet.dvc").is_file()
    lock_after = yaml.safe_load((repo / "dvc.lock").read_text())
    trained = lambda lock: lock["stages"]["train"]["outs"][0]["md5"]  # noqa: E731
    assert trained(lock_after) != trained(lock_before)
    status = run_in(repo, "dvc", "status")
    assert "up to date" in status.stdout, status.stdout
    assert git(repo, "diff", "--name-only") == "", "the loop left changes unstaged"
    staged = set(git(repo, "diff", "--cached", "--name-only").split())
    assert {"params.yaml", "dvc.lock", "data/sources/applications.parquet.dvc"} <= staged
    assert "git commit -m" in done.stdout  # the next step is printed
    # reproducible: the new version is in the remote, so a fresh clone gets the same data
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone, ignore=shutil.ignore_patterns("cache", "tmp"))
    (clone / "data/sources/applications.parquet").unlink()
    pulled = run_in(clone, "dvc", "pull", "data/sources/applications.parquet", env=remote)
    assert pulled.returncode == 0, pulled.stderr
    rows = pd.read_parquet(clone / "data/sources/applications.parquet")
    assert rows["request_id"].notna().sum() == 400
    git(repo, "status", "--short")


@pytest.mark.integration
def test_retrain_loop_without_drift_changes_nothing(trained_repo: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    simulate = run_in(
        repo, "underwrite", "simulate", "--rows", "400", "--to-log", "logs/inference",
        "--labels-out", "logs/labels.csv",
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr
    done = run_in(repo, "underwrite", "retrain", "loop")
    assert done.returncode == 0, done.stderr
    assert "no_drift" in done.stdout
    assert "No retraining" in (repo / "reports/retrain/report.md").read_text()
    assert git(repo, "status", "--short", "params.yaml", "dvc.lock") == ""
