"""What `mlc predict` sends and prints (no engine)."""

import pytest

from mlc.run.deployed import RunError
from mlc.run.serve import parse_inputs, render


def test_inputs_are_text_or_json():
    assert parse_inputs(["card_id=123", "amount_cents:=150", "channel=pos", "note=a=b"]) == {
        "card_id": "123", "amount_cents": 150, "channel": "pos", "note": "a=b"}


@pytest.mark.parametrize("pair", ["card_id", "=x", "amount:=fifty"])
def test_bad_inputs_are_errors(pair):
    with pytest.raises(RunError):
        parse_inputs([pair])


def test_answer_shows_path_and_reason_first():
    text = render({"fraud_score": 0.123456, "confidence": None, "path": "fallback", "reason": "missing_features",
                   "answered_by": "fraud_rules", "detail": "no value for x"})
    assert text == ("path=fallback  reason=missing_features  answered_by=fraud_rules  fraud_score=0.1235\n"
                    "  detail: no value for x")
