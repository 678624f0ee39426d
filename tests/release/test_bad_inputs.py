"""Every `underwrite release` command refuses bad input with a clear reason and changes nothing.

"Nothing" means: no new git tag, no running server, and no bento or stored model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from release_support import ReleaseRepo

from underwrite.release import ReleaseError, deploy

pytestmark = pytest.mark.integration


def snapshot(repo: ReleaseRepo) -> dict:
    """What a refused command must leave as it was: tags, servers, bentos, stored models."""
    import bentoml

    return {
        "tags": repo.tags(),
        "servers": [deploy.load(repo.path, env) for env in deploy.ENVIRONMENTS],
        "bentos": sorted(str(b.tag) for b in bentoml.list()),
        "models": sorted(str(m.tag) for m in bentoml.models.list()),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "v9.9.9"], "no registered version 'v9.9.9' (registered: none yet)"),
        (["stage", "v9.9.9"], "no registered version 'v9.9.9'"),
        (["promote"], "nothing is in staging: run `underwrite release stage` first"),
        (["promote", "v9.9.9"], "no registered version 'v9.9.9'"),
        (["rollback"], "nothing is in production yet, so there is nothing to roll back"),
        (["smoke"], "staging is not running: run `underwrite release stage` first"),
        (["smoke", "--env", "prod"], "prod is not running"),
    ],
)
def test_command_without_what_it_needs_explains_and_changes_nothing(
    release_repo: ReleaseRepo, args: list[str], message: str
) -> None:
    before = snapshot(release_repo)
    done = release_repo.release(*args, expect=1)
    assert message in done.stderr
    assert snapshot(release_repo) == before


def test_smoke_with_unknown_environment_is_a_usage_error(release_repo: ReleaseRepo) -> None:
    done = release_repo.release("smoke", "--env", "production", expect=2)
    assert "'production' is not one of 'staging', 'prod'" in " ".join(
        done.stderr.replace("│", " ").split()
    )


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda p: (p / "models/model.joblib").write_bytes(b"not a model"),
         "is not the model dvc.lock pins"),
        (lambda p: (p / "models/model.joblib").unlink(),
         "models/model.joblib is missing: run `dvc pull`"),
        (lambda p: (p / "dvc.lock").write_text((p / "dvc.lock").read_text() + "\n# edited\n"),
         "dvc.lock or reports/evaluate/metrics.json has uncommitted changes"),
        (lambda p: (p / "reports/evaluate/metrics.json").write_text("{}"),
         "dvc.lock or reports/evaluate/metrics.json has uncommitted changes"),
    ],
)  # fmt: skip
def test_release_of_a_model_that_is_not_what_the_commit_says_is_refused(
    release_repo: ReleaseRepo, spoil, message: str
) -> None:
    before = snapshot(release_repo)
    spoil(release_repo.path)
    for command in ("build", "all"):
        done = release_repo.release(command, expect=1)
        assert message in done.stderr, done.stderr
    assert snapshot(release_repo) == before


def test_promotion_of_a_version_that_never_went_through_staging_is_refused(
    release_repo: ReleaseRepo,
) -> None:
    release_repo.run("release", "status")  # nothing registered yet: status must not register
    assert release_repo.tags() == set()
    version = register(release_repo)
    before = snapshot(release_repo)
    done = release_repo.release("promote", version, expect=3)
    assert f"promotion of {version} refused (against no production)" in done.stderr
    assert f"{version} is not in staging (the registry has nothing there)" in done.stderr
    assert snapshot(release_repo) == before


def test_stage_on_a_port_another_process_holds_is_refused_before_anything(
    release_repo: ReleaseRepo,
) -> None:
    port = int(os.environ["UNDERWRITE_STAGING_PORT"])  # the fixture's free port
    with socket.create_server(("127.0.0.1", port)):
        before = snapshot(release_repo)
        for command in ("stage", "all"):
            done = release_repo.release(command, expect=1)
            assert f"staging: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert snapshot(release_repo) == before


def test_status_lists_versions_stages_and_servers(release_repo: ReleaseRepo) -> None:
    empty = release_repo.release("status").stdout
    assert "no version registered yet" in empty
    assert "staging: not running" in empty and "prod: not running" in empty
    version = register(release_repo)
    shown = release_repo.release("status").stdout
    assert f"{version:<10} commit {release_repo.git('rev-parse', '--short=7', 'HEAD')}" in shown
    assert "production lineage: (none)" in shown


def test_commands_outside_the_project_are_refused(release_repo: ReleaseRepo, tmp_path: Path):
    done = release_repo.release("status", "--repo", str(tmp_path), expect=1)
    assert f"{tmp_path} is not the project's repository (no .git or dvc.yaml)" in done.stderr


def register(repo: ReleaseRepo) -> str:
    """Register the committed model the way `release build` does, without building."""
    from underwrite.release.registry import Registry

    return Registry(repo.path).register(repo.git("rev-parse", "HEAD")).version


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("raise SystemExit(3)", "exited with code 3"),
        ("import os; os.kill(os.getpid(), 9)", "SIGKILL"),
    ],
)
def test_a_server_that_dies_before_ready_is_reported_with_how_it_ended(
    tmp_path: Path, code: str, said: str
) -> None:
    output = tmp_path / "server.log"
    output.write_text("")
    process = subprocess.Popen([sys.executable, "-c", code])
    process.wait(timeout=30)
    gone = deploy.Deployment(
        "prod", "v0.0.1", "loan-approval:x", "loan-approval:m", "md5", process.pid,
        "http://127.0.0.1:9", "now",
    )  # fmt: skip
    with pytest.raises(
        ReleaseError, match=f"{said}.*before it was ready.*ends with:\n\\(nothing\\)"
    ):
        deploy.wait_ready(gone, timeout=30, output=output, process=process)


@pytest.mark.parametrize(
    ("code", "printed", "silent"),
    [
        ("import os; os.kill(os.getpid(), 9)", "", True),
        ("import os; os.kill(os.getpid(), 9)", "Starting production HTTP BentoServer", False),
        ("raise SystemExit(1)", "", False),
    ],
)
def test_only_a_server_killed_before_it_printed_anything_is_started_again(
    tmp_path: Path, code: str, printed: str, silent: bool
) -> None:
    output = tmp_path / "server.log"
    output.write_text(printed)
    process = subprocess.Popen([sys.executable, "-c", code])
    process.wait(timeout=30)
    assert deploy.killed_silently(process, output) is silent
