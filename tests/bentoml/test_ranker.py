"""The recommendations example's generated `ranker` service under real `bentoml serve`: three
stored views over three entities (one of them the composite member_title, one Feast entity per
key), the request-time view `ranking_context` computed by Feast from the request's fields, and
the baseline `popular_titles` answering from the same lookup."""

from __future__ import annotations

import pytest

REQUEST = {"member_id": "m-1", "title_id": "t-1", "device": "tv", "hour_of_day": 21, "row_position": 2}


def test_the_ranker_answers_from_every_view_and_the_request(ranker):
    status, body = ranker["server"].predict(REQUEST)
    assert status == 200, body
    expected = ranker["worker"]("ranker_probability", request=REQUEST, **ranker["rows"])["p"]
    assert (body["path"], body["answered_by"]) == ("model", "ranker"), body
    assert body["score"] == pytest.approx(expected, abs=1e-6)
    # the request's fields reach the model through the on-demand view: another row position
    # (expected_conv) and another device (on_big_screen) give another score
    other = {**REQUEST, "device": "mobile", "row_position": 30}
    status, moved = ranker["server"].predict(other)
    expected = ranker["worker"]("ranker_probability", request=other, **ranker["rows"])["p"]
    assert status == 200 and moved["path"] == "model", moved
    assert moved["score"] == pytest.approx(expected, abs=1e-6)
    assert abs(moved["score"] - body["score"]) > 0.05


def test_a_request_the_ranker_is_unsure_of_is_answered_by_the_baseline(ranker):
    """Last row on a phone: the ranker's probability is near 0.5, below `confidence < 0.6`."""
    unsure = {**REQUEST, "device": "mobile", "row_position": 39}
    p = ranker["worker"]("ranker_probability", request=unsure, **ranker["rows"])["p"]
    assert max(p, 1 - p) < 0.6
    status, body = ranker["server"].predict(unsure)
    assert status == 200, body
    assert (body["path"], body["reason"], body["answered_by"]) == ("fallback", "low_confidence", "popular_titles")
    assert body["score"] == pytest.approx(ranker["rows"]["title_popularity"]["plays_7d"] / 5000)


def test_an_unknown_member_is_answered_by_the_baseline_from_the_titles_plays(ranker):
    status, body = ranker["server"].predict({**REQUEST, "member_id": "m-unknown"})
    assert status == 200, body
    assert (body["path"], body["reason"], body["answered_by"]) == ("fallback", "missing_features", "popular_titles")
    assert "member_activity__views_1h" in body["detail"]
    assert body["score"] == pytest.approx(ranker["rows"]["title_popularity"]["plays_7d"] / 5000)


def test_a_request_field_outside_its_enum_is_refused(ranker):
    status, body = ranker["server"].predict({**REQUEST, "device": "phone"})
    assert status == 400
    assert body == [{"error": "bad input for model `ranker`: field `device` is 'phone'; expected one of tv, mobile, web"}]
