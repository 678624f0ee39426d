"""`underwrite demo` (`make demo`): the talk's four demos, replayed in a scratch copy.

scratch: the copy of the repository, its environment and the schema edits that make the
faulty revision and the fix. runner: commands shown and run with bounded waits, and the
clean-up of every process the demo started. story: the demos themselves.
"""

from __future__ import annotations


class DemoError(RuntimeError):
    """A demo step could not go on; the message names the step and where its output is."""
