"""`underwrite demo` (`make demo`) end to end: the four demos in order, the watched
application's decision before the fix and after the release, and nothing left running."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from repo_support import REPO_ROOT, VENV_BIN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO_TIMEOUT = 1800.0  # under 5 minutes on an idle machine; far more on a shared, loaded one
HEADINGS = ("Demo 1: ", "Demo 2: ", "Demo 3: ", "Demo 4: ")


def demo_command(workdir: Path) -> list[str]:
    return [str(VENV_BIN / "underwrite"), "demo", "--workdir", str(workdir)]


def left_behind(workdir: Path) -> list[str]:
    """Processes that run from, or name, the demo's folder."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = process.info
        where = " ".join(info["cmdline"] or []) + " " + (info["cwd"] or "")
        if str(workdir) in where:
            found.append(f"{info['pid']}: {' '.join(info['cmdline'] or [])[:200]}")
    return found


def ports_used(output: str) -> set[int]:
    """Azurite's port and every local URL's port that the demo printed."""
    ports = {int(p) for p in re.findall(r"azurite start --port (\d+)", output)}
    return ports | {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", output)}


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_demo_replays_the_four_demos_and_the_fix_reaches_production(tmp_path: Path):
    workdir = tmp_path / "demo"
    done = subprocess.run(
        demo_command(workdir), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=DEMO_TIMEOUT,
    )  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, f"{output[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    positions = [output.find(f"\n{heading}") for heading in HEADINGS]
    assert -1 not in positions and positions == sorted(positions), positions
    # production's faulty model approves the watched application; the released fix denies it
    assert "income-666-unknown before the fix: approved by v0.0.1" in output
    assert "income-666-unknown after the release: denied by v0.0.2" in output
    answers = re.findall(r"watched application income-666-unknown: (\w+) \(p=[\d.]+\) by (v[\d.]+)",
                         output)  # fmt: skip
    assert answers[0] == ("approved", "v0.0.1") and answers[-1] == ("denied", "v0.0.2"), answers
    assert "watch list (production's cases):" in output  # the gate showed the table
    artefacts = workdir / "artefacts"
    assert "### Watch list" in (artefacts / "pr" / "report.md").read_text()
    assert (artefacts / "release-status.txt").is_file()
    assert (artefacts / "drift" / "report.md").is_file()
    assert f"artefacts: {artefacts}" in output
    assert left_behind(workdir) == []
    assert [p for p in ports_used(output) if listening(p)] == []


def test_demo_stopped_by_sigterm_stops_everything_it_started(tmp_path: Path):
    workdir = tmp_path / "demo"
    process = subprocess.Popen(
        demo_command(workdir), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    seen: list[str] = []
    deadline = time.monotonic() + DEMO_TIMEOUT
    try:
        for line in process.stdout:
            seen.append(line)
            if "staging serves" in line or time.monotonic() > deadline:
                break  # a bentoml server, Azurite and the demo are all running now
        assert "staging serves" in "".join(seen), "".join(seen)[-3000:]
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen) + rest
    assert process.returncode == 130, output[-3000:]
    assert "stopped: staging" in output
    assert left_behind(workdir) == []
    assert [p for p in ports_used(output) if listening(p)] == []
