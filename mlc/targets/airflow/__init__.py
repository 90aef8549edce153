"""The Airflow backend: one static Airflow 3 DAG file per flow and per batch feature group.
`validate` reports what Airflow cannot take (ids, tags, catch-up); see docs/targets/airflow.md.

Nothing here imports Airflow: only the generated files do.
"""

from __future__ import annotations

from mlc.targets import Backend
from mlc.targets.airflow.target import lower, validate

TARGET = Backend("airflow", validate, lower)
