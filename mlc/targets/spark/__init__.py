"""The Spark backend: batch feature groups (and backfills of stream groups) as PySpark jobs,
and the launchers of flows' `spark(...)` steps. See docs/targets/spark.md."""

from mlc.targets import Backend
from mlc.targets.spark.target import lower, validate

TARGET = Backend("spark", validate, lower)
