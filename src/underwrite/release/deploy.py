"""Local staging and production: one `bentoml serve` process per environment.

Each environment's process runs in its own session (so stopping it stops its workers too)
and is recorded in .release/<env>.json: pid, URL, bento, version, and whether the smoke
suite passed against it. Its output goes to .release/<env>.log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from underwrite.release import ReleaseError

log = logging.getLogger(__name__)

STATE_DIR = ".release"
ENVIRONMENTS = ("staging", "prod")
STOP_TIMEOUT = 30.0
PROGRESS_EVERY = 15  # seconds between "still waiting" lines
PROD_LOG = "logs/inference"  # the service's default (underwrite.serving.service.ServingConfig)


@dataclass(frozen=True)
class Serving:
    """What a deployment serves: a registry version, its bento, and the stored model in it."""

    version: str
    bento: str
    model: str  # the BentoML model tag the bento was built with
    model_md5: str


@dataclass(frozen=True)
class Deployment:
    env: str
    version: str
    bento: str
    model: str
    model_md5: str
    pid: int
    url: str
    started_at: str
    smoke: str = "not run"  # "passed" or "failed" once the smoke suite ran against it

    def with_smoke(self, passed: bool) -> Deployment:
        return replace(self, smoke="passed" if passed else "failed")

    def serving(self) -> Serving:
        return Serving(self.version, self.bento, self.model, self.model_md5)


def state_path(repo: Path, env: str) -> Path:
    if env not in ENVIRONMENTS:
        raise ReleaseError(f"unknown environment {env!r}; the environments are staging, prod")
    return Path(repo) / STATE_DIR / f"{env}.json"


def log_path(repo: Path, env: str) -> Path:
    return state_path(repo, env).with_suffix(".log")


def load(repo: Path, env: str) -> Deployment | None:
    """The deployment recorded for `env`, if its process is still running."""
    path = state_path(repo, env)
    if not path.is_file():
        return None
    deployment = Deployment(**json.loads(path.read_text()))
    return deployment if is_running(deployment) else None


def save(repo: Path, deployment: Deployment) -> None:
    path = state_path(repo, deployment.env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(deployment), indent=2) + "\n")


def is_running(deployment: Deployment) -> bool:
    """Is the recorded pid still our `bentoml serve` of that bento (not a reused pid)?"""
    try:
        process = psutil.Process(deployment.pid)
        return process.status() != psutil.STATUS_ZOMBIE and deployment.bento in " ".join(
            process.cmdline()
        )
    except psutil.Error:
        return False


class KilledSilently(ReleaseError):
    """The server died by a signal before it wrote a line of output."""


def start(repo: Path, env: str, what: Serving, host: str, port: int, timeout: float) -> Deployment:
    """Serve a bento for `env` on host:port and wait until it is ready to predict.

    A server killed by a signal before it printed a line (the kernel's OOM killer on a busy
    machine, say) is started once more, with a warning; any other failure is final.
    """
    ensure_port_free(host, port, env)
    try:
        return _start_once(repo, env, what, host, port, timeout)
    except KilledSilently as err:
        log.warning("%s\nstarting it once more", err)
        return _start_once(repo, env, what, host, port, timeout)


def _start_once(
    repo: Path, env: str, what: Serving, host: str, port: int, timeout: float
) -> Deployment:
    out = log_path(repo, env)
    deployment, process = _launch(repo, env, what, host, port, out)
    try:
        wait_ready(deployment, timeout, out, process)
    except ReleaseError as err:
        silent = killed_silently(process, out)  # before stop() sends signals of its own
        stop(repo, env)
        if silent:
            raise KilledSilently(str(err)) from err
        raise
    return deployment


def _launch(
    repo: Path, env: str, what: Serving, host: str, port: int, out: Path
) -> tuple[Deployment, subprocess.Popen]:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bentoml", "serve", what.bento]
    command += ["--host", host, "--port", str(port)]
    with out.open("w") as sink:
        process = subprocess.Popen(
            command, cwd=repo, env=serving_env(repo, env, what), stdin=subprocess.DEVNULL,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://{host}:{port}"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    deployment = Deployment(env, **asdict(what), pid=process.pid, url=url, started_at=started)
    save(repo, deployment)
    log.info("%s: serving %s (%s) at %s, pid %d", env, what.version, what.bento, url, process.pid)
    return deployment, process


def killed_silently(process: subprocess.Popen, output: Path) -> bool:
    """Did the server die by a signal before writing any output (not a failure of its own)?"""
    ended = process.poll()
    return ended is not None and ended < 0 and not output.read_text(errors="replace").strip()


def serving_env(repo: Path, env: str, what: Serving) -> dict[str, str]:
    """The server's environment.

    UNDERWRITE_MODEL_TAG names the bento's own model: a local bento references the shared
    model store, where the service's default (`loan-approval:latest`) would be the newest
    import, not necessarily this bento's. The inference log is an absolute path (a bento's
    workers run from the bento's folder), and staging's is its own, so smoke traffic never
    reaches production's drift data.
    """
    # A crash in native code (a segfault) then leaves a traceback in the server's log.
    serving = dict(os.environ, UNDERWRITE_MODEL_TAG=what.model, PYTHONFAULTHANDLER="1")
    chosen = os.environ.get("UNDERWRITE_INFERENCE_LOG") if env == "prod" else None
    if chosen and "://" in chosen:
        return serving
    default = STATE_DIR + "/staging/inference" if env == "staging" else PROD_LOG
    serving["UNDERWRITE_INFERENCE_LOG"] = str(Path(repo) / (chosen or default))
    return serving


def ensure_port_free(host: str, port: int, env: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            raise ReleaseError(
                f"{env}: port {port} on {host} is already in use by another process; "
                f"stop it or set release.{env}_port in params.yaml"
            )


def wait_ready(
    deployment: Deployment, timeout: float, output: Path, process: subprocess.Popen
) -> None:
    """Poll /readyz until it answers 200; fail early if the process exits."""
    start = time.monotonic()
    reported = 0
    while (waited := time.monotonic() - start) < timeout:
        if waited >= reported + PROGRESS_EVERY:
            reported += PROGRESS_EVERY
            log.info("%s: waiting for %s/readyz (%d s)", deployment.env, deployment.url, waited)
        if (ended := process.poll()) is not None:  # our child: its exit status, not a pid guess
            raise ReleaseError(
                f"{deployment.env}: `bentoml serve {deployment.bento}` {how_it_ended(ended)} "
                f"before it was ready, {waited:.1f} s after it started; its output ({output}) "
                f"ends with:\n{tail(output)}"
            )
        try:
            if httpx.get(f"{deployment.url}/readyz", timeout=2.0).status_code == 200:
                log.info("%s: ready at %s", deployment.env, deployment.url)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ReleaseError(
        f"{deployment.env}: {deployment.url}/readyz did not answer 200 within {timeout:.0f} s "
        f"(UNDERWRITE_READINESS_TIMEOUT); the server's output ({output}) ends with:\n{tail(output)}"
    )


def how_it_ended(returncode: int) -> str:
    """A server's end in words: a negative return code is the signal that killed it."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"was killed by {name}{why}"
    return f"exited with code {returncode}"


def stop(repo: Path, env: str) -> Deployment | None:
    """Stop the environment's server and every worker it started; return what was running."""
    path = state_path(repo, env)
    if not path.is_file():
        return None
    deployment = Deployment(**json.loads(path.read_text()))
    if is_running(deployment):
        _terminate_tree(deployment.pid)
        log.info("%s: stopped %s (pid %d)", env, deployment.version, deployment.pid)
    path.unlink()
    return deployment


def _terminate_tree(pid: int) -> None:
    """SIGTERM the server (it shuts its workers down), then SIGKILL whatever outlives the wait.

    The workers run in sessions of their own, so they are found as the server's descendants
    before it is signalled, not by process group.
    """
    try:
        server = psutil.Process(pid)
        tree = [server, *server.children(recursive=True)]
        server.terminate()
    except psutil.NoSuchProcess:
        return
    _reap(pid)
    _, alive = psutil.wait_procs(tree, timeout=STOP_TIMEOUT, callback=lambda p: _reap(p.pid))
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (long-lived callers, tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(nothing)"
