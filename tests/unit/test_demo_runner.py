"""The demo's runner: an interruption while a command starts still finds that command."""

from __future__ import annotations

import os
import signal

from underwrite.demo.runner import held_signals


def test_held_signals_delivers_a_signal_that_arrives_inside_the_block_after_it():
    seen: list[str] = []

    def handler(signum, frame) -> None:
        seen.append("handler")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with held_signals():
            os.kill(os.getpid(), signal.SIGTERM)  # as if it came while Popen starts a child
            seen.append("block finished")
        assert seen == ["block finished", "handler"]
        assert signal.getsignal(signal.SIGTERM) is handler  # put back when the block ended
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_held_signals_without_a_signal_changes_nothing():
    before = signal.getsignal(signal.SIGINT)
    with held_signals():
        pass
    assert signal.getsignal(signal.SIGINT) is before
