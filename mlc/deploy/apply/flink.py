"""Flink jobs, publishers and their runtime: files in the release's job folder
(`$MLC_BUNDLE/flink/...`)."""

from mlc.deploy.apply import FileApplier


class FlinkApplier(FileApplier):
    target = "flink"
    what = "Flink job file"


APPLIER = FlinkApplier()
