"""The four demos of the talk, in order, on the scratch copy (underwrite.demo.scratch).

Setup makes the faulty revision (appinc 666 read as income) the copy's main and trains it.
Demo 1 releases it and shows production's faulty answer to the watched application; Demo 2
reproduces the pipeline with nothing to re-run; Demo 3 makes the fix on a branch and shows
its report; Demo 4 merges and releases it, shows the corrected answer, rolls back and forward;
then a simulated shift is found by the drift check and the retrain loop makes a new data
version.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from underwrite.demo import DemoError, scratch
from underwrite.demo.runner import INDENT, Runner

WATCHED = Path("examples/watchlist/income-666-unknown.json")
FIX_BRANCH = "fix-unknown-income"
SHOWN_FIELDS = ("appinc", "atotinc", "loanamt", "price", "obrat")
PREDICT_TIMEOUT = 60.0


@dataclass
class Story:
    runner: Runner
    faulty: str = ""  # the faulty revision's commit
    decisions: dict[str, str] = field(default_factory=dict)  # moment -> watched decision

    @property
    def scratch(self) -> scratch.Scratch:
        return self.runner.scratch

    def echo(self, line: str = "") -> None:
        self.runner.echo(line)

    def run(self, *args: str, show=None, ok: Iterable[int] = (0,)):
        return self.runner.run([*args], show=show, ok=ok)

    def git(self, *args: str, show=None):
        return self.run("git", *args, show=show or (lambda lines: []))

    def heading(self, text: str) -> None:
        self.echo()
        self.echo(text)
        self.echo("=" * len(text))


# ---- setup -------------------------------------------------------------------------------
def setup(story: Story) -> None:
    """The copy, with the faulty revision as main, Azurite as its DVC remote, trained."""
    s = story.scratch
    story.heading("Setup: a scratch copy with the faulty revision")
    copied = scratch.copy_project(s)
    story.echo(f"copied {copied} files of {s.source} to {s.repo}")
    story.git("init", "-q", "-b", "main")
    patched = scratch.edit_schema(s.repo, scratch.without_unknown_income)
    what = "666 removed from appinc's sentinels" if patched else "appinc has no 666 sentinel"
    story.echo(f"faulty revision: {scratch.SCHEMA}: {what} (666 reads as $666k)")
    story.git("add", "-A")
    story.git("commit", "-q", "-m", "The faulty revision: applicant income 666 read as income")
    azurite = str(s.ports["azurite"])
    location = str(s.azurite)
    story.run("underwrite", "azurite", "start", "--port", azurite, "--location", location)
    story.run("underwrite", "azurite", "configure-dvc", "--port", azurite, "--location", location)
    story.run("dvc", "repro", show=_stage_summary)
    story.git("add", "-A")
    story.git("commit", "-q", "--allow-empty", "-m", "dvc repro of the faulty revision")
    story.faulty = story.git("rev-parse", "HEAD").output.strip()
    story.run("dvc", "push", show=_last_line)


# ---- demo 1 ------------------------------------------------------------------------------
def demo_production(story: Story) -> None:
    story.heading("Demo 1: a model in production gives a faulty answer")
    story.run("underwrite", "release", "stage", show=_grep("registered|staging serves"))
    story.run("underwrite", "release", "promote", show=_grep("production serves"))
    story.decisions["before the fix"] = ask_production(story)


def ask_production(story: Story) -> str:
    """POST the watched application to production; print request and answer; the decision."""
    from underwrite.release import deploy

    running = deploy.load(story.scratch.repo, "prod")
    if running is None:
        raise DemoError("production is not running; see artefacts/logs for the release step")
    case = json.loads((story.scratch.repo / WATCHED).read_text())
    request = story.scratch.artefacts / "watched-request.json"
    request.parent.mkdir(parents=True, exist_ok=True)
    request.write_text(json.dumps(case["application"], indent=1) + "\n")
    story.echo(
        f"$ curl -s -X POST {running.url}/predict -H 'Content-Type: application/json' -d @{request}"
    )
    shown = ", ".join(f"{k}={case['application'][k]}" for k in SHOWN_FIELDS)
    story.echo(
        f"{INDENT}request ({case['name']}): {shown}, ... ({len(case['application'])} fields)"
    )
    answer = httpx.post(f"{running.url}/predict", json=case["application"], timeout=PREDICT_TIMEOUT)
    answer.raise_for_status()
    body = answer.json()
    decision = "approved" if body["approved"] else "denied"
    story.echo(f"{INDENT}response: {json.dumps({k: body[k] for k in ('probability', 'approved')})}")
    story.echo(f"{INDENT}model: {body['model']['tag']} (md5 {body['model']['md5'][:8]}), "
               f"registry version {running.version}")  # fmt: skip
    story.echo(
        f"{INDENT}watched application {case['name']}: {decision} "
        f"(p={body['probability']:.3f}) by {running.version}"
    )
    return f"{decision} by {running.version}"


# ---- demo 2 ------------------------------------------------------------------------------
def demo_pipeline(story: Story) -> None:
    story.heading("Demo 2: the training pipeline; nothing changed, so nothing re-runs")
    story.run("dvc", "repro", show=_stage_summary)
    story.run("dvc", "dag", show=lambda lines: lines)


# ---- demo 3 ------------------------------------------------------------------------------
def demo_pull_request(story: Story) -> None:
    story.heading("Demo 3: the fix as a pull request: lint, tests, training, the report")
    s = story.scratch
    story.git("checkout", "-q", "-b", FIX_BRANCH)
    if not scratch.edit_schema(s.repo, scratch.with_unknown_income):
        raise DemoError(f"{scratch.SCHEMA}: the fix changed nothing (666 already a sentinel)")
    scratch.count_appinc_in_sentinel_test(s.repo)
    story.run("git", "diff", "-U0", show=_grep(r"^[-+] |^\+\+\+ "))
    story.git("commit", "-q", "-am", "Applicant income 666 means unknown, not $666k")
    story.run("ruff", "check", ".")
    story.run("ruff", "format", "--check", ".")
    story.run("pytest", "tests/unit", "-m", "not slow and not integration", "-q", "-p",
              "no:cacheprovider", show=_last_line)  # fmt: skip
    pr = s.artefacts / "pr"
    pr.mkdir(parents=True, exist_ok=True)
    done = story.run("dvc", "repro", show=_stage_summary)
    (pr / "repro.log").write_text(done.output)
    story.git("add", "-A")
    story.git("commit", "-q", "-m", "dvc repro: retrained with 666 as unknown income")
    story.run("underwrite", "report", "--base", story.faulty[:7], "--out", str(pr),
              "--repro-log", str(pr / "repro.log"), show=_last_line, ok=(0, 3))  # fmt: skip
    report = (pr / "report.md").read_text()
    for title in ("Metrics", "Fairness", "Pipeline", "Watch list"):
        story.echo(f"{INDENT}--- {title} (from {pr / 'report.md'})")
        for line in section(report, title):
            story.echo(f"{INDENT}{line}")


def section(markdown: str, title: str) -> list[str]:
    """The lines of a `### TITLE` section of the report, without blank lines and details."""
    found = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^###? |\Z)", markdown, re.S | re.M)
    if found is None:
        return [f"(no {title} section)"]
    body = found.group(1).split("<details", 1)[0]  # the collapsed extras stay in the file
    return [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("![")][:16]


# ---- demo 4 ------------------------------------------------------------------------------
def demo_release(story: Story) -> None:
    story.heading("Demo 4: the release: staging, smoke, gate, production, rollback")
    story.git("checkout", "-q", "main")
    story.git("merge", "-q", "--no-ff", FIX_BRANCH, "-m", f"Merge {FIX_BRANCH}")
    story.echo(f"merged {FIX_BRANCH} into main")
    story.run("underwrite", "release", "stage", show=_grep("registered|staging serves"))
    promoted = story.run("underwrite", "release", "promote", show=_gate_output, ok=(0, 3))
    if promoted.code != 0:
        story.echo("the gate refused the fix: production keeps the faulty model")
        return
    story.decisions["after the release"] = ask_production(story)
    story.run("underwrite", "release", "rollback", show=_grep("rolled back"))
    ask_production(story)
    candidate = story.decisions["after the release"].rsplit(" ", 1)[-1]
    story.run("underwrite", "release", "promote", candidate, show=_grep("production serves"))
    story.decisions["after the release"] = ask_production(story)
    done = story.run("underwrite", "release", "status", show=lambda lines: lines)
    (story.scratch.artefacts / "release-status.txt").write_text(done.output)


# ---- then: drift -------------------------------------------------------------------------
def demo_drift(story: Story) -> None:
    story.heading("Then: drift sends the model back to retraining")
    s = story.scratch
    log, labels = "logs/inference", "logs/labels.csv"
    # production has been writing this log since demo 1: the shifted traffic joins it
    shift = ("--shift", "income_inflation", "--labels-out", labels, "--append")
    story.run("underwrite", "simulate", "--to-log", log, *shift, show=_written)
    drift = ("--end", "latest", "--out", str(s.artefacts / "drift"))
    story.run("underwrite", "drift", "--log", log, *drift, show=_drift_lines, ok=(4,))
    loop = ("--labels", labels, "--end", "latest", "--out", str(s.artefacts / "retrain"), "--push")
    outcome = _grep("retrained|no_drift|cannot_tell")
    story.run("underwrite", "retrain", "loop", "--log", log, *loop, show=outcome)
    report = (s.artefacts / "retrain" / "report.md").read_text()
    story.echo(f"{INDENT}--- New data version (from {s.artefacts / 'retrain' / 'report.md'})")
    for line in section(report.replace("\n## ", "\n### "), "New data version"):
        story.echo(f"{INDENT}{line}")
    story.run("git", "status", "--short", "--", "data", "params.yaml", "dvc.lock",
              show=lambda lines: lines)  # fmt: skip
    story.run("underwrite", "release", "stop", show=_grep(r"^\w+: (stopped|was not)"))


def collect(story: Story) -> None:
    """Copy the copy's plots next to the reports the demos wrote."""
    plots = story.scratch.repo / "reports" / "evaluate" / "plots"
    if plots.is_dir():
        shutil.copytree(plots, story.scratch.artefacts / "evaluate-plots", dirs_exist_ok=True)


# ---- what to print of each command -------------------------------------------------------
def _last_line(lines: list[str]) -> list[str]:
    return lines[-1:]


def _grep(pattern: str):
    return lambda lines: [_plain(ln) for ln in lines if re.search(pattern, ln)]


def _plain(line: str) -> str:
    """A log line without its `INFO module:` prefix."""
    return re.sub(r"^(INFO|WARNING) [\w.]+: ", "", line)


def _stage_summary(lines: list[str]) -> list[str]:
    ran = [m.group(1) for ln in lines if (m := re.match(r"Running stage '([^']+)'", ln))]
    kept = [m.group(1) for ln in lines if (m := re.search(r"Stage '([^']+)' didn't change", ln))]
    restored = [m.group(1) for ln in lines if (m := re.search(r"Stage '([^']+)' is cached", ln))]
    return [
        f"ran: {', '.join(ran) or 'nothing'}",
        f"unchanged, skipped: {', '.join(kept) or 'none'}",
        *([f"restored from the run cache: {', '.join(restored)}"] if restored else []),
    ]


def _gate_output(lines: list[str]) -> list[str]:
    keep = ("passes the gate", "refused", "  - ", "watch list", "|", "production serves")
    return [_plain(ln) for ln in lines if any(k in ln for k in keep)]


def _written(lines: list[str]) -> list[str]:
    """The simulator's `wrote N records (shift) to FILE, FILE, ...`, with the files counted."""
    found = [m for ln in lines if (m := re.match(r"(wrote .*?) to (.*)$", ln))]
    return [f"{m.group(1)} to {len(m.group(2).split(', '))} daily files" for m in found]


def _drift_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if not ln.startswith(("INFO", "WARNING"))][:8]
