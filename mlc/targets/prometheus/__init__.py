"""The monitoring backend: Prometheus rules and Grafana dashboards (docs/targets/prometheus.md)."""

from mlc.targets import Backend
from mlc.targets.prometheus.target import lower, validate

TARGET = Backend("prometheus", validate, lower)
