"""The watch list made from the real data: the unknown-income case (underwrite.watchlist.fault),
the clearest approval the bank also made, a borderline denial, a typical applicant of each
race group. The cases other than the unknown-income one come from the held-out split, scored
by the fixed model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from underwrite.schema import LABEL, RACE_COLUMNS
from underwrite.watchlist import Case, WatchlistError, request_fields


def held_out_cases(frame: pd.DataFrame, model: Any, threshold: float) -> list[Case]:
    """A clear approval, a borderline denial and a typical applicant of each race group."""
    proba = model.predict_proba(frame)[:, 1]
    label = frame[LABEL].to_numpy()
    agreed_yes = np.flatnonzero((proba >= threshold) & (label == 1))
    denied = np.flatnonzero((proba < threshold) & (label == 0))
    if not len(agreed_yes) or not len(denied):
        raise WatchlistError("the held-out data has no approval or denial the bank also made")
    cases = [
        _case(frame, agreed_yes[np.argmax(proba[agreed_yes])], "clear-approval",
              "the clearest approval the bank also made: no change should deny it", "approved"),
        _case(frame, denied[np.argmax(proba[denied])], "borderline-denial",
              "a denial the bank also made, just below the threshold: the first to flip", None),
    ]  # fmt: skip
    return cases + [
        _group_case(frame, proba, column, group) for column, group in RACE_COLUMNS.items()
    ]


def _group_case(frame: pd.DataFrame, proba: np.ndarray, column: str, group: str) -> Case:
    members = np.flatnonzero(frame[column].to_numpy() == 1)
    if not len(members):
        raise WatchlistError(f"the held-out data has no applicant with {column} = 1")
    typical = members[np.argmin(np.abs(proba[members] - np.median(proba[members])))]
    why = f"a typical {group} applicant (median approval probability of the group)"
    return _case(frame, typical, f"applicant-{group}", why, None)


def _case(frame: pd.DataFrame, index: int, name: str, why: str, expect: str | None) -> Case:
    return Case(name, why, request(frame.iloc[index]), expect)


def request(row: pd.Series) -> dict[str, Any]:
    """One data row as the service's request body."""
    from underwrite.serving.examples import request_body

    return request_body(row, request_fields())
