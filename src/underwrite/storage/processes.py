"""The Azurite process seen from outside: is a pid ours, signal it, wait for it, read its log."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path


def is_azurite(pid: int) -> bool:
    """Whether PID is alive and is an Azurite (not a reused pid or a zombie)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    # A reused pid, or a zombie (empty cmdline), is not our Azurite.
    return b"azurite" in cmdline.read_bytes() if cmdline.exists() else True


def signal_group(pid: int, signum: int) -> None:
    """Send SIGNUM to the process group that PID leads, if it still exists."""
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        os.killpg(pid, signum)


def wait_for_exit(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    """Wait up to TIMEOUT seconds for PID to exit (through PROCESS when it is our child)."""
    if process is not None and process.pid == pid:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while is_azurite(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def tail(path: Path, lines: int = 15) -> str:
    """The last LINES lines of the log at PATH, for an error message."""
    if not path.exists():
        return "(no log written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
