"""The Airflow backend: `lower(program, env)` writes one static Airflow 3 DAG file per flow and
per batch feature group; `validate(program, env)` reports what Airflow cannot take.

Nothing here imports Airflow: only the generated files do.
"""

from __future__ import annotations

from mlc.targets.airflow.target import lower, validate

__all__ = ["lower", "validate"]
