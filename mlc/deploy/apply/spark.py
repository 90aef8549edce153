"""Spark jobs, step launchers and their runtime: files in the release's job folder
(`$MLC_BUNDLE/spark/...`), which the DAGs submit."""

from mlc.deploy.apply import FileApplier


class SparkApplier(FileApplier):
    target = "spark"
    what = "Spark job file"


APPLIER = SparkApplier()
