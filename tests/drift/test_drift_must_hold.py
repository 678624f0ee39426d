"""The alarm rule's must-hold rates, on 200 seeded windows per case of drift.window_rows rows.

Windows are held-out applications replayed by the simulator (each at most once per
window), shifted by the sizes in params.yaml (drift.shifts), scored by the model, and
checked in memory with the same function the command uses on the log. All windows come
from the same 498 held-out rows (two windows share about 80% of them) and one model and
reference, so these counts check the rule; they are not error rates. The false-alarm rate
and the power over independent re-splits are measured by `benchmarks/drift.py power`
(docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from drift_support import World

from underwrite.drift.simulate import SHIFTS, shifted_columns

SAMPLES = 200


@dataclass(frozen=True)
class Outcome:
    alarms: int
    named_first: int  # windows whose most shifted feature is one the shift changed
    first: dict[str, int]  # feature ranked first -> windows


@pytest.fixture(scope="module")
def outcomes(world: World) -> dict[str, Outcome]:
    found = {}
    for shift in SHIFTS:
        expected = set(shifted_columns(shift, world.params.drift.shifts))
        alarms, named, first = 0, 0, {}
        for seed in range(SAMPLES):
            result = world.check(world.window(shift, seed))
            alarms += result.drifted
            top = result.features[0].name
            named += top in expected
            first[top] = first.get(top, 0) + 1
        found[shift] = Outcome(alarms, named, first)
    return found


def test_no_shift_alarms_in_at_most_five_percent_of_windows(outcomes: dict[str, Outcome]):
    assert outcomes["none"].alarms <= 0.05 * SAMPLES, outcomes["none"]


@pytest.mark.parametrize("shift", [s for s in SHIFTS if s != "none"])
def test_each_shift_is_detected_in_95_percent_and_named_first(
    outcomes: dict[str, Outcome], shift: str
):
    outcome = outcomes[shift]
    assert outcome.alarms >= 0.95 * SAMPLES, outcome
    assert outcome.named_first >= 0.95 * SAMPLES, outcome


def test_windows_are_the_realistic_size_from_params(world: World):
    window = world.window("none", seed=0)
    assert len(window) == world.params.drift.window_rows
    assert window["probability"].between(0, 1).all()
    # each held-out application at most once: a window is a sample, not a bootstrap
    assert not window.duplicated().any()
