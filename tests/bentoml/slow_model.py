"""A model artefact that answers late: pickled into the model store by the serving test, it
wraps a real classifier and sleeps before each prediction. The served model is slow because of
what is stored, not because of a branch in the service (the server finds this module on
PYTHONPATH, as it would find any library a pickled model needs)."""

from __future__ import annotations

import time


class Slow:
    def __init__(self, inner, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    def predict_proba(self, rows):
        time.sleep(self.seconds)
        return self.inner.predict_proba(rows)
