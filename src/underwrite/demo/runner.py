"""Run the demo's commands where a reader sees them, with bounded waits, and clean up after.

Each command is printed as `$ ...`, runs in its own process group (so Ctrl-C reaches the
demo, which stops it), and its whole output goes to artefacts/logs/; only the lines that
matter are printed. `cleanup` stops the command still running, the copy's staging and
production servers and its Azurite: every process the demo started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from underwrite.demo import DemoError
from underwrite.demo.scratch import Scratch

COMMAND_TIMEOUT = 900.0  # seconds; the slowest step (the retrain loop's dvc repro) is ~1 min
STOP_TIMEOUT = 10.0
INDENT = "    "


@dataclass(frozen=True)
class Done:
    code: int
    output: str

    def lines(self) -> list[str]:
        return self.output.splitlines()


@dataclass
class Runner:
    scratch: Scratch
    echo: Callable[[str], None] = print
    running: subprocess.Popen | None = field(default=None, init=False)
    count: int = field(default=0, init=False)

    def run(
        self,
        args: list[str],
        show: Callable[[list[str]], Iterable[str]] | None = None,
        ok: Iterable[int] = (0,),
        timeout: float = COMMAND_TIMEOUT,
    ) -> Done:
        """Print and run ARGS in the copy; print what SHOW picks of its output (default: the
        last line); an exit code outside OK stops the demo with the output's tail."""
        self.echo(f"$ {shlex.join(args)}")
        done = self._execute(args, timeout)
        log = self._save(args, done)
        picked = list((show or _last)(done.lines()))
        for line in picked:
            self.echo(f"{INDENT}{line}")
        if done.code not in tuple(ok):
            tail = "\n".join(done.lines()[-25:])
            raise DemoError(f"`{shlex.join(args)}` exited {done.code} (log: {log}):\n{tail}")
        if done.code != 0:
            self.echo(f"{INDENT}(exit {done.code}: expected here, a finding, not a failure)")
        return done

    def _execute(self, args: list[str], timeout: float) -> Done:
        with held_signals():  # from here on, an interruption finds the command in self.running
            process = subprocess.Popen(
                args, cwd=self.scratch.repo, env=self.scratch.env(), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True,  # Ctrl-C reaches the demo only, which stops the group
            )  # fmt: skip
            self.running = process
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process)
            raise DemoError(f"`{shlex.join(args)}` took over {timeout:.0f} s; stopped it") from None
        except BaseException:  # Ctrl-C or SIGTERM: the command goes with the demo
            stop_group(process)
            raise
        finally:
            self.running = None
        return Done(process.returncode, output)

    def _save(self, args: list[str], done: Done) -> Path:
        self.count += 1
        logs = self.scratch.artefacts / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        name = "-".join(a for a in args[:3] if not a.startswith("-")).replace("/", "_")
        path = logs / f"{self.count:02d}-{name}.log"
        path.write_text(f"$ {shlex.join(args)}\n(exit {done.code})\n{done.output}")
        return path

    def stop_running(self) -> None:
        if self.running is not None:
            stop_group(self.running)


def _last(lines: list[str]) -> list[str]:
    return lines[-1:]


@contextlib.contextmanager
def held_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Deliver SIGNALS only when the block ends. One that arrives while Popen starts a child
    would raise before the child's handle is kept, and the child would outlive the demo."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals in Python
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum)) for s in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            signal.raise_signal(signum)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL it after STOP_TIMEOUT, and reap the process."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


def cleanup(runner: Runner) -> list[str]:
    """Stop whatever the demo started: the running command, the copy's servers, its Azurite.
    Returns what was stopped, for the record."""
    from underwrite.release import deploy
    from underwrite.storage.emulator import Emulator

    stopped = []
    runner.stop_running()
    for env in deploy.ENVIRONMENTS:
        with contextlib.suppress(Exception):  # clean-up must reach every step
            if deploy.stop(runner.scratch.repo, env) is not None:
                stopped.append(env)
    emulator = Emulator(location=runner.scratch.azurite)
    record = emulator.running()
    if record is not None:
        emulator.port = record.port
        if emulator.stop(timeout=STOP_TIMEOUT):
            stopped.append(f"azurite (port {record.port})")
    return stopped
