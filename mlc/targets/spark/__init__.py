"""The Spark backend: batch feature groups (and backfills of stream groups) as PySpark jobs,
and the launchers of flows' `spark(...)` steps. See docs/targets/spark.md."""

from mlc.targets.spark.target import lower, validate

__all__ = ["lower", "validate"]
