"""Run the real dvc in temporary copies of the repository, never in the repository itself.

A copy holds the working tree's files that git tracks or would track (so work in progress is
tested too) in a fresh git repository; dvc runs there with <copy>/src first on PYTHONPATH, so
the copy's code is what the stages import, and with its own DVC/Azure config directories, so
nothing of this machine's configuration leaks in. The expensive first `dvc repro` runs once
per session, from scratch, in a template; tests work on copies of it, .dvc/cache included.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_support import (
    GIT_TIMEOUT,
    REPO_ROOT,
    VENV_BIN,
    copy_project,
    generated_files,
    ignore_dvc_tmp,
    isolated_env,
    pipeline_outputs,
    set_params,
)

from underwrite.io import file_md5

DVC_TIMEOUT = 600.0
REMOTE = "blob"  # the remote .dvc/config declares

_RAN = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)
_CACHED = re.compile(r"^Stage '([^']+)' is cached - skipping run", re.MULTILINE)


@dataclass(frozen=True)
class DvcRun:
    """What one dvc command printed, and which stages it ran or restored from the run cache."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ran(self) -> list[str]:
        """Stages whose command dvc ran ("Running stage 'X'"), in order."""
        return _RAN.findall(self.stdout)

    @property
    def cached(self) -> list[str]:
        """Stages dvc restored from the run cache instead of running them."""
        return _CACHED.findall(self.stdout)

    def __str__(self) -> str:
        return (
            f"dvc {' '.join(self.args)} exited {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


@dataclass(frozen=True)
class RepoCopy:
    """A repository in a temporary folder; `home` (beside it) holds dvc's per-user state."""

    path: Path
    home: Path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return isolated_env(self.path, self.home, extra)

    def dvc(self, *args: str, check: bool = True, env: Mapping[str, str] | None = None) -> DvcRun:
        """Run the real dvc here; with check, a non-zero exit fails the test with its output."""
        returncode, stdout, stderr = run_group(
            [str(VENV_BIN / "dvc"), *args], self.path, self.env(env)
        )
        run = DvcRun(args, returncode, stdout, stderr)
        if check and run.returncode != 0:
            pytest.fail(str(run), pytrace=False)
        return run

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
        return done.stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message)

    def set_params(self, changes: Mapping[str, Any]) -> None:
        """Set dotted keys in params.yaml, e.g. {"train.hist_gradient_boosting.max_depth": 2}."""
        set_params(self.path / "params.yaml", changes)

    def lock_md5s(self) -> dict[str, str]:
        """Every output recorded in dvc.lock, as path -> md5."""
        lock = yaml.safe_load((self.path / "dvc.lock").read_text())
        return {
            out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]
        }

    def md5s(self, paths: list[str]) -> dict[str, str | None]:
        """The md5 of each file's bytes as it is now (None when the file is missing)."""
        return {p: file_md5(self.path / p) if (self.path / p).is_file() else None for p in paths}

    def stages(self) -> list[str]:
        """The stage names of dvc.yaml, in order."""
        return list(yaml.safe_load((self.path / "dvc.yaml").read_text())["stages"])

    def outputs(self, stages: Collection[str] | None = None) -> dict[str, bool]:
        """The outputs (outs, metrics, plots) of STAGES (default all), as path -> cached by dvc."""
        return pipeline_outputs(self.path, stages)

    def copy(self, dest: Path) -> RepoCopy:
        """A byte-for-byte copy (git history and .dvc/cache included) at DEST."""
        shutil.copytree(self.path, dest, symlinks=True, ignore=ignore_dvc_tmp)
        return RepoCopy(dest, dest.parent / "home")

    def clone(self, dest: Path) -> RepoCopy:
        """`git clone` to DEST: what another machine gets (no cache, no config.local)."""
        subprocess.run(
            ["git", "clone", "-q", str(self.path), str(dest)],
            env=self.env(),
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
        return RepoCopy(dest, dest.parent / "home")

    def use_remote(self, connection_string: str, container: str) -> None:
        """Point the remote at CONTAINER, credentials in .dvc/config.local (never committed).

        Written as `dvc remote modify --local` writes it, without two more dvc start-ups.
        """
        (self.path / ".dvc" / "config.local").write_text(
            f"['remote \"{REMOTE}\"']\n"
            f"    url = azure://{container}\n"
            f"    connection_string = {connection_string}\n"
        )


def run_group(command: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str, str]:
    """Run COMMAND in its own process group; on timeout, kill the group (dvc and its stages)."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=DVC_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return process.returncode, stdout, stderr


def copy_repository(dest: Path, scratch: bool) -> RepoCopy:
    """A fresh git repository at DEST with the project's files; with scratch, no outputs at all
    (no dvc.lock, none of the outputs git tracks), as if the pipeline had never run."""
    copy_project(REPO_ROOT, dest, skip=generated_files(REPO_ROOT) if scratch else ())
    repo = RepoCopy(dest, dest.parent / "home")
    repo.git("init", "-q", "-b", "main")
    repo.commit("copy of the working tree")
    return repo
