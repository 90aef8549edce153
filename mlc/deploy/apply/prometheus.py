"""Prometheus rule files and Grafana dashboards: files in the release (`$MLC_BUNDLE/prometheus/...`),
which a Prometheus server's `rule_files` and Grafana's dashboard provisioning read through the
`current` pointer (reload Prometheus after a deploy: SIGHUP or POST /-/reload)."""

from mlc.deploy.apply import FileApplier


class PrometheusApplier(FileApplier):
    target = "prometheus"
    what = "rule file or dashboard"
    whats = "rule files or dashboards"


APPLIER = PrometheusApplier()
