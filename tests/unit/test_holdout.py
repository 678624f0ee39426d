"""The fixed evaluation holdout: a row's side depends on the row alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underwrite.judgement.holdout import identity_columns, in_holdout
from underwrite.params import PrepareParams
from underwrite.schema import LABEL
from underwrite.stages.prepare import split

SEED = 42


def test_adding_rows_never_moves_an_existing_row(frame_factory):
    existing = frame_factory(rows=400, seed=0)
    more = frame_factory(rows=300, seed=1)

    before = in_holdout(existing, 0.25, SEED)
    after = in_holdout(pd.concat([more, existing], ignore_index=True), 0.25, SEED)

    np.testing.assert_array_equal(after[len(more) :], before)


def test_twins_of_holdout_rows_go_to_the_holdout_whatever_their_label(frame_factory):
    frame = frame_factory(rows=400, seed=0)
    held_out = frame[in_holdout(frame, 0.25, SEED)]
    replays = held_out.assign(**{LABEL: 1 - held_out[LABEL], "reject": held_out[LABEL]})

    assert in_holdout(replays, 0.25, SEED).all()
    assert not in_holdout(frame[~in_holdout(frame, 0.25, SEED)], 0.25, SEED).any()


def test_holdout_share_is_about_test_size(frame_factory):
    frame = frame_factory(rows=4000, seed=2)

    share = in_holdout(frame, 0.25, SEED).mean()

    assert abs(share - 0.25) < 3 * np.sqrt(0.25 * 0.75 / 4000)


def test_the_seed_salts_the_assignment(frame_factory):
    frame = frame_factory(rows=400, seed=0)

    agreement = (in_holdout(frame, 0.25, SEED) == in_holdout(frame, 0.25, SEED + 1)).mean()

    assert agreement < 0.8  # independent assignments agree on 0.25^2 + 0.75^2 = 62.5%


def test_identity_ignores_the_label_and_what_follows_the_decision():
    columns = identity_columns()

    assert LABEL not in columns
    assert "reject" not in columns
    assert {"appinc", "loanamt", "white", "male"} <= set(columns)


def test_missing_values_and_signed_zeros_hash_alike(frame_factory):
    frame = frame_factory(rows=200, seed=0).assign(dep=np.nan, hrat=0.0)
    variant = frame.assign(dep=float("nan") * -1, hrat=-0.0)

    np.testing.assert_array_equal(in_holdout(frame, 0.25, SEED), in_holdout(variant, 0.25, SEED))


def test_holdout_needs_every_identity_column(frame_factory):
    frame = frame_factory(rows=10, seed=0).drop(columns=["appinc"])

    with pytest.raises(ValueError, match=r"identity columns \['appinc'\]"):
        in_holdout(frame, 0.25, SEED)


def test_split_keeps_every_row_once_in_input_order(frame_factory):
    frame = frame_factory(rows=400, seed=0)

    train, test = split(frame, PrepareParams(test_size=0.25, seed=SEED))

    assert sorted([*train.index, *test.index]) == list(frame.index)
    assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing
    np.testing.assert_array_equal(frame.index[in_holdout(frame, 0.25, SEED)], test.index)
