"""The Flink backend: stream feature groups as PyFlink Table API / SQL jobs, and the
publishers that turn their output into Feast's offline Parquet and online pushes.
See docs/targets/flink.md."""

from mlc.targets import Backend
from mlc.targets.flink.target import lower, validate

TARGET = Backend("flink", validate, lower)
