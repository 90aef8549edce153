"""The recommendations example's generated `ranker` service under real `bentoml serve`: three
stored views over three entities (one of them the composite member_title, one Feast entity per
key), the request-time view `ranking_context` computed by Feast from the request's fields, and
the baseline `popular_titles` answering from the same lookup. The ranker was trained by the
example's step from its point-in-time training set; the worker picked the requests (`sure`,
`other`: the ranker is sure of both, with different scores; `unsure`: confidence below 0.6)."""

from __future__ import annotations

import pytest


def _p(ranker, request) -> float:
    return ranker["worker"]("ranker_probability", rows=ranker["rows"], request=request)["p"]


def test_the_ranker_was_trained_from_its_point_in_time_training_set(ranker):
    assert ranker["training"]["source"] == "feature store"
    assert ranker["training"]["rows"] == ranker["labels"] > 0 and ranker["leaked"] == 0


def test_the_ranker_answers_from_every_view_and_the_request(ranker):
    """The request's fields reach the model through the on-demand view: another device, hour or
    row position gives another score."""
    scores = []
    for name in ("sure", "other"):
        request = ranker["requests"][name]
        status, body = ranker["server"].predict(request)
        assert status == 200, body
        assert (body["path"], body["answered_by"]) == ("model", "ranker"), body
        assert body["score"] == pytest.approx(_p(ranker, request), abs=1e-6)
        scores.append(body["score"])
    assert abs(scores[0] - scores[1]) > 0.05


def test_a_request_the_ranker_is_unsure_of_is_answered_by_the_baseline(ranker):
    request = ranker["requests"]["unsure"]
    p = _p(ranker, request)
    assert max(p, 1 - p) < 0.6
    status, body = ranker["server"].predict(request)
    assert status == 200, body
    assert (body["path"], body["reason"], body["answered_by"]) == ("fallback", "low_confidence", "popular_titles")
    assert body["score"] == pytest.approx(ranker["rows"]["title_popularity"]["plays_7d"] / 5000)


def test_an_unknown_member_is_answered_by_the_baseline_from_the_titles_plays(ranker):
    status, body = ranker["server"].predict({**ranker["requests"]["sure"], "member_id": "m-unknown"})
    assert status == 200, body
    assert (body["path"], body["reason"], body["answered_by"]) == ("fallback", "missing_features", "popular_titles")
    assert "member_activity__views_1h" in body["detail"]
    assert body["score"] == pytest.approx(ranker["rows"]["title_popularity"]["plays_7d"] / 5000)


def test_a_request_field_outside_its_enum_is_refused(ranker):
    status, body = ranker["server"].predict({**ranker["requests"]["sure"], "device": "phone"})
    assert status == 400
    assert body == [{"error": "bad input for model `ranker`: field `device` is 'phone'; expected one of tv, mobile, web"}]
