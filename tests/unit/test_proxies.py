"""The proxy analysis: a column that reveals a protected attribute scores high, noise 0.5."""

from __future__ import annotations

import numpy as np
import pytest

from underwrite.proxies import TARGETS, cv_auc, markdown, proxy_report, strongest
from underwrite.schema import BY_NAME, model_columns


@pytest.fixture(scope="module")
def frame(frame_factory):
    data = frame_factory(rows=400, seed=3)
    # netw reveals race: non-white applicants' net worth is lower
    data["netw"] = np.where(data["white"] == 1, 300.0, 50.0) + np.arange(len(data)) % 7
    return data


def test_a_column_that_reveals_race_predicts_it_alone(frame):
    auc = cv_auc(frame, TARGETS["non_white"](frame), [BY_NAME["netw"]], folds=5, seed=0)
    assert auc > 0.95


def test_a_column_drawn_independently_of_race_is_near_half(frame):
    auc = cv_auc(frame, TARGETS["non_white"](frame), [BY_NAME["hrat"]], folds=5, seed=0)
    assert 0.35 < auc < 0.65


def test_unknown_codes_are_missing_not_values(frame):
    coded = frame.assign(appinc=np.where(frame["white"] == 1, frame["appinc"], 666.0))
    # 666 marks the non-white rows: as a value it would reveal race, as "unknown" too, but
    # through the missing bin; the analysis must not fail on it and must see it
    auc = cv_auc(coded, TARGETS["non_white"](coded), [BY_NAME["appinc"]], folds=5, seed=0)
    assert auc > 0.95


def test_all_features_auc_is_seeded(frame):
    features = model_columns(include_protected=False)
    target = TARGETS["non_white"](frame)

    first = cv_auc(frame, target, features, folds=3, seed=1)

    assert first == cv_auc(frame, target, features, folds=3, seed=1)
    assert first > 0.9


def test_report_lists_every_target_and_names_the_strongest_proxy(frame):
    report = proxy_report(frame, model_columns(False), folds=3, seed=1, max_rows=1000)

    assert set(report["targets"]) == set(TARGETS)
    assert report["targets"]["non_white"]["all_features"] > 0.9
    assert strongest(report)[0] == "netw"
    assert "| non_white |" in markdown(report)


def test_a_target_with_too_few_of_one_class_gets_no_auc(frame):
    report = proxy_report(frame.assign(old=0.0), model_columns(False), 3, seed=1, max_rows=1000)

    assert report["targets"]["old"]["all_features"] is None
    assert "| old | too few rows of one class" in markdown(report)


def test_a_large_training_split_is_analysed_on_a_seeded_sample_and_says_so(frame):
    features = model_columns(False)
    sampled = proxy_report(frame, features, folds=3, seed=1, max_rows=300)
    whole = proxy_report(frame, features, folds=3, seed=1, max_rows=1000)

    assert "on 300 of 400 rows of the training split" in sampled["method"]
    assert "on all 400 rows of the training split" in whole["method"]
    on_the_sample = proxy_report(frame.sample(n=300, random_state=1), features, 3, 1, 300)
    assert sampled["targets"] == on_the_sample["targets"]
    assert sampled["targets"] != whole["targets"]
