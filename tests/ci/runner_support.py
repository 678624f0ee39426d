"""A workflow job run as a GitHub-hosted runner runs it, on this machine.

`run_job` executes a job's steps in order: each `run:` step with bash as GitHub starts it
(`bash --noprofile --norc -eo pipefail`), in an environment built from nothing (`env -i`
shaped: HOME, a plain PATH without the project's venv, the runner's GITHUB_* variables,
the workflow's, job's and step's `env`), with `defaults`, `if:` conditions, step outcomes,
`continue-on-error`, and GITHUB_ENV / GITHUB_PATH / GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
honoured. `${{ }}` expressions are evaluated against the contexts the test gives (github,
vars, secrets, inputs); an expression or action this module does not know fails the test.

Only steps that need GitHub or Azure are stood in for (`STAND_INS`): checkout clones the
test's "origin" repository, azure/login does nothing (the tests use the storage secret
with Azurite), setup-cml puts a `cml` on PATH that records what it would post, and the
artifact actions copy to and from a folder the jobs of one run share. Git URLs of the
repository on "GitHub" (server_url/repository.git) lead to the origin. The package caches
of this machine stand in for the registries `make setup` downloads from; nothing else of
this machine leaks in.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from repo_support import GIT_IDENTITY, REPO_ROOT

RUNNER_PATH = "/usr/local/bin:/usr/bin:/bin"  # no venv, no pyenv shims: a plain image
STEP_TIMEOUT = 900
UV = shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")  # as the Makefile finds it
RECORDING_CML = """#!/bin/sh
# setup-cml's stand-in: GitHub's API is not here, so record what would be posted
printf '%s\\n' "$*" >> "$CML_CALLS"
for last; do :; done
cat "$last" >> "$CML_CALLS"
"""


# ---- ${{ }} expressions -------------------------------------------------------------------
TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,|<=|>=|<|>)"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[\w*-]+|\[[^\]]+\])*))"
)
LITERALS = {"true": "True", "false": "False", "null": "None"}
OPERATORS = {"&&": " and ", "||": " or ", "!": " not "}


def to_python(expression: str) -> str:
    """GitHub's expression syntax as a Python expression over `_get` and `_call`."""
    out, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if not match:
            pytest.fail(f"cannot read the expression at {expression[position:]!r}")
        position = match.end()
        if match["str"]:
            out.append(repr(match["str"][1:-1].replace("''", "'")))
        elif match["num"]:
            out.append(match["num"])
        elif match["op"]:
            out.append(OPERATORS.get(match["op"], match["op"]))
        elif match["name"] in LITERALS:
            out.append(LITERALS[match["name"]])
        elif expression[position:].lstrip().startswith("("):
            out.append(f"_call({match['name']!r})")
        else:
            out.append(f"_get({match['name']!r})")
    return "".join(out)


def text(value: Any) -> str:
    """How GitHub writes a value into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# ---- the job ---------------------------------------------------------------------------
@dataclass
class Step:
    """What a step did, as `steps.<id>` shows it."""

    name: str
    outcome: str  # success, failure, skipped
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class Runner:
    """One job's run: the machine's folders, the contexts, and what the steps did."""

    root: Path  # the runner's temporary machine: home, workspace, runner temp
    workflow: dict
    job_name: str
    contexts: dict[str, Any]  # github, vars, secrets, inputs, needs
    origin: Path  # the repository checkout clones ("GitHub")
    stand_ins: dict[str, Callable[[Runner, dict, dict[str, str]], None]]
    artifacts: Path  # what upload-artifact stored in this run, for every job of it
    steps: list[Step] = field(default_factory=list)
    env_file: dict[str, str] = field(default_factory=dict)
    path_file: list[str] = field(default_factory=list)

    @property
    def job(self) -> dict:
        return self.workflow["jobs"][self.job_name]

    @property
    def workspace(self) -> Path:
        return self.root / "work" / "repo"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.name == step_id)

    @property
    def failed(self) -> bool:
        return any(s.conclusion == "failure" for s in self.steps)

    def should_run(self) -> bool:
        """The job's `if:` (default success() of the jobs it needs)."""
        return self.condition(self.job, self.base_env())

    def outputs(self) -> dict[str, str]:
        """The job's `outputs:`, from its steps, as `needs.<job>.outputs` gives them."""
        env = self.base_env()
        return {k: self.interpolate(v, env) for k, v in self.job.get("outputs", {}).items()}

    @property
    def result(self) -> str:
        return "failure" if self.failed else "success"

    # -- expressions
    def evaluate(self, expression: str, env: dict[str, str]) -> Any:
        contexts = self.contexts | {
            "env": env,
            "steps": {s.name: vars(s) for s in self.steps},
            "runner": {"temp": str(self.root / "temp"), "os": "Linux"},
        }

        def get(name: str) -> Any:
            value: Any = contexts
            for key in re.findall(r"[^.\[\]']+", name):
                value = value.get(key) if isinstance(value, dict) else None
            return value

        functions = {
            "success": lambda: not self.failed,
            "failure": lambda: self.failed,
            "always": lambda: True,
            "cancelled": lambda: False,
            "hashFiles": self.hash_files,
            "contains": lambda haystack, needle: needle in (haystack or ""),
            "startsWith": lambda s, prefix: str(s or "").startswith(prefix),
            "endsWith": lambda s, suffix: str(s or "").endswith(suffix),
        }

        def call(name: str) -> Callable[..., Any]:
            if name not in functions:
                pytest.fail(f"the runner stand-in does not know the function {name}()")
            return functions[name]

        return eval(to_python(expression), {"__builtins__": {}, "_get": get, "_call": call})

    def hash_files(self, *patterns: str) -> str:
        files = sorted(p for pattern in patterns for p in self.workspace.glob(pattern))
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in files if p.is_file()))
        return digest.hexdigest() if files else ""

    def interpolate(self, value: Any, env: dict[str, str]) -> str:
        return re.sub(
            r"\$\{\{(.*?)\}\}", lambda m: text(self.evaluate(m[1], env)), str(value), flags=re.S
        )

    def condition(self, step: dict, env: dict[str, str]) -> bool:
        raw = str(step.get("if", "success()")).strip()
        raw = raw[3:-2] if raw.startswith("${{") and raw.endswith("}}") else raw
        if not re.search(r"\b(success|failure|always|cancelled)\(", raw):
            raw = f"success() && ({raw})"
        return bool(self.evaluate(raw, env))

    # -- the environment
    def base_env(self) -> dict[str, str]:
        """What every step's process starts from, as on a fresh hosted runner."""
        files = {
            "GITHUB_ENV": self.root / "github_env",
            "GITHUB_PATH": self.root / "github_path",
            "GITHUB_OUTPUT": self.root / "github_output",
            "GITHUB_STEP_SUMMARY": self.summary,
        }
        github = self.contexts["github"]
        on_github = f"{github['server_url']}/{github['repository']}.git"
        return {
            "HOME": str(self.root / "home"),
            "PATH": os.pathsep.join([*reversed(self.path_file), RUNNER_PATH]),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_REF": github["ref"],
            "GITHUB_RUN_ID": str(github["run_id"]),
            "RUNNER_TEMP": str(self.root / "temp"),
            "RUNNER_OS": "Linux",
            # a fresh machine has no DVC site cache; this one's /var/tmp/dvc is shared
            "DVC_SITE_CACHE_DIR": str(self.root / "dvc-site"),
            # the repository's git URL on "GitHub" is the origin folder
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{self.origin}.insteadOf",
            "GIT_CONFIG_VALUE_0": on_github,
            **package_caches(),
            **{name: str(path) for name, path in files.items()},
        }

    def step_env(self, step: dict) -> dict[str, str]:
        env = self.base_env()
        for scope in (self.workflow.get("env", {}), self.job.get("env", {})):
            env |= {k: self.interpolate(v, env) for k, v in scope.items()}
        env |= self.env_file
        env |= {k: self.interpolate(v, env) for k, v in step.get("env", {}).items()}
        return env

    # -- steps
    def run_steps(self, stop_after: str | None = None) -> None:
        for directory in ("home", "temp", "work"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for number, step in enumerate(self.job["steps"]):
            self.run_step(step.get("id", f"step{number}"), step)
            if stop_after and step.get("id") == stop_after:
                return

    def run_step(self, step_id: str, step: dict) -> None:
        env = self.step_env(step)
        if not self.condition(step, env):
            self.steps.append(Step(step_id, "skipped", "skipped"))
            return
        try:
            log = self.execute(step, env)
            outcome = "success"
        except StepFailed as failed:
            log, outcome = str(failed), "failure"
        tolerated = outcome == "failure" and step.get("continue-on-error") is True
        conclusion = "success" if tolerated else outcome
        self.steps.append(Step(step_id, outcome, conclusion, self.read_outputs(), log))

    def execute(self, step: dict, env: dict[str, str]) -> str:
        self.workspace.mkdir(parents=True, exist_ok=True)  # as the runner makes it
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action not in self.stand_ins:
                pytest.fail(f"no stand-in for {action}: say what it does here, or run it")
            inputs = {k: self.interpolate(v, env) for k, v in step.get("with", {}).items()}
            self.stand_ins[action](self, inputs, env)
            return ""
        return self.run_script(self.interpolate(step["run"], env), step, env)

    def run_script(self, script: str, step: dict, env: dict[str, str]) -> str:
        defaults = self.job.get("defaults", self.workflow.get("defaults", {})).get("run", {})
        shell = step.get("shell", defaults.get("shell", "bash"))
        if shell != "bash":
            pytest.fail(f"the runner stand-in runs bash steps only, not {shell}")
        cwd = self.workspace / step.get("working-directory", defaults.get("working-directory", "."))
        file = self.root / "temp" / "step.sh"
        file.write_text(script)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
        )  # fmt: skip
        self.read_env_files()
        log = done.stdout + done.stderr
        if done.returncode != 0:
            raise StepFailed(f"exit {done.returncode}\n{log}")
        return log

    def read_env_files(self) -> None:
        env_file, path_file = self.root / "github_env", self.root / "github_path"
        if env_file.exists():
            self.env_file |= parse_key_values(env_file.read_text())
            env_file.unlink()
        if path_file.exists():
            self.path_file += [p for p in path_file.read_text().splitlines() if p]
            path_file.unlink()

    def read_outputs(self) -> dict[str, str]:
        output = self.root / "github_output"
        if not output.exists():
            return {}
        values = parse_key_values(output.read_text())
        output.unlink()
        return values


class StepFailed(Exception):
    """A step exited non-zero; the message is its exit status and log."""


def parse_key_values(content: str) -> dict[str, str]:
    """GITHUB_ENV / GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    values, lines = {}, iter(content.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


# ---- stand-ins for the steps that need GitHub or Azure ----------------------------------
def checkout(runner: Runner, inputs: dict, env: dict[str, str]) -> None:
    """actions/checkout: a clone of the origin at the event's commit, full depth."""
    ref = inputs.get("ref") or runner.contexts["github"]["sha"]
    git_env = {"PATH": RUNNER_PATH, "HOME": env["HOME"], **GIT_IDENTITY}
    for command in (
        ["git", "clone", "-q", "--no-checkout", str(runner.origin), str(runner.workspace)],
        ["git", "-C", str(runner.workspace), "checkout", "-q", "--detach", ref],
    ):
        done = subprocess.run(command, env=git_env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise StepFailed(done.stdout + done.stderr)


def azure_login(runner: Runner, inputs: dict, env: dict[str, str]) -> None:
    """azure/login: nothing to sign in to; the storage credential comes from the secret."""


def setup_cml(runner: Runner, inputs: dict, env: dict[str, str]) -> None:
    """iterative/setup-cml: a `cml` that records instead of calling GitHub's API."""
    bin_dir = runner.root / "cml-bin"
    bin_dir.mkdir(exist_ok=True)
    cml = bin_dir / "cml"
    cml.write_text(RECORDING_CML)
    cml.chmod(0o755)
    runner.path_file.append(str(bin_dir))
    runner.env_file["CML_CALLS"] = str(runner.root / "cml-calls.txt")
    runner.env_file["CML_VERSION_REQUESTED"] = inputs.get("version", "")


def upload_artifact(runner: Runner, inputs: dict, env: dict[str, str]) -> None:
    """actions/upload-artifact: a copy in the run's artifacts folder."""
    shutil.copytree(runner.workspace / inputs["path"], runner.artifacts / inputs["name"])


def download_artifact(runner: Runner, inputs: dict, env: dict[str, str]) -> None:
    """actions/download-artifact: the copy back, into the job's workspace."""
    stored = runner.artifacts / inputs["name"]
    if not stored.is_dir():
        raise StepFailed(f"Artifact not found for name: {inputs['name']}")
    shutil.copytree(stored, runner.workspace / inputs.get("path", "."), dirs_exist_ok=True)


STAND_INS: dict[str, Callable[[Runner, dict, dict[str, str]], None]] = {
    "actions/checkout": checkout,
    "azure/login": azure_login,
    "iterative/setup-cml": setup_cml,
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
}


@cache
def package_caches() -> dict[str, str]:
    """What `make setup` would download, from this machine's uv and npm caches (no network)."""

    def ask(*command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip()

    return {
        "UV_CACHE_DIR": ask(UV, "cache", "dir"),
        "UV_OFFLINE": "1",
        "npm_config_cache": ask("npm", "config", "get", "cache"),
        "npm_config_prefer_offline": "true",
        "npm_config_update_notifier": "false",
    }


def tool_path(root: Path) -> str:
    """A folder with uv in it, as the runner has once `make setup` pip-installed it."""
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    if not (tools / "uv").exists():
        (tools / "uv").symlink_to(UV)
    return str(tools)
