"""Where every artifact of a bundle lives, decided in one place.

Backends ask this module for every path they write and every path they reference
(a DAG submits a Spark job, a publisher pushes to the Feast repository), so two
backends can never disagree about a file name. Names that must be unique in the
bundle (a feature group's job, a flow's DAG) are a declaration's name, or its
qualified name (`package.name`) when two packages declare the same name of that kind.

The bundle's top folders are the backends' names: a path's first part says which
backend owns it (`owner`), which is how the manifest tells a reference inside this
bundle from one to a backend that was not compiled.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from functools import cached_property

from mlc.compiler import ir

MANIFEST = "manifest.json"
IR = "ir.json"


def _unique(decls: dict[str, ir.Decl]) -> dict[str, str]:
    """key -> the declaration's name, or its qualified key where the name is shared."""
    counts = Counter(d.name for d in decls.values())
    return {k: (d.name if counts[d.name] == 1 else k) for k, d in decls.items()}


class Layout:
    def __init__(self, program: ir.Program) -> None:
        self.program = program

    @cached_property
    def _flows(self) -> dict[str, str]:
        return _unique(self.program.flows)

    @cached_property
    def _groups(self) -> dict[str, str]:
        return _unique(self.program.feature_groups)

    @cached_property
    def _models(self) -> dict[str, str]:
        return _unique(self.program.models)

    # unique names -----------------------------------------------------------
    def flow_id(self, key: str) -> str:
        """A flow's name in the bundle (its DAG id, its folders)."""
        return self._flows[key]

    def group_id(self, key: str) -> str:
        """A feature group's name in the bundle (its jobs, its DAG id after `features.`)."""
        return self._groups[key]

    def model_id(self, key: str) -> str:
        return self._models[key]

    # airflow ------------------------------------------------------------------
    def flow_dag(self, key: str) -> str:
        return f"airflow/dags/{self.flow_id(key)}.py"

    def features_dag(self, key: str) -> str:
        return f"airflow/dags/features.{self.group_id(key)}.py"

    def airflow_plugin(self, name: str) -> str:
        return f"airflow/plugins/{name}.py"

    # spark ---------------------------------------------------------------------
    def spark_feature_job(self, key: str) -> str:
        return f"spark/features/{self.group_id(key)}.py"

    def spark_step_launcher(self, flow_key: str, step: str) -> str:
        return f"spark/steps/{self.flow_id(flow_key)}/{step}.py"

    def spark_runtime(self) -> str:
        """The module every Spark job and launcher imports (one per bundle)."""
        return "spark/runtime/mlc_spark_runtime.py"

    # flink ---------------------------------------------------------------------
    def flink_feature_job(self, key: str) -> str:
        return f"flink/features/{self.group_id(key)}.py"

    def flink_publisher(self, key: str) -> str:
        return f"flink/publish/{self.group_id(key)}.py"

    def flink_runtime(self) -> str:
        """The module every Flink job and publisher imports (one per bundle)."""
        return "flink/runtime/mlc_flink_runtime.py"

    # backends to come (the Airflow DAGs already call them) ----------------------
    def feast_repo(self) -> str:
        return "feast"

    def bento_service(self, model_key: str) -> str:
        return f"bentoml/{self.model_id(model_key)}"


def source_line(loc: ir.Loc | None) -> str:
    """`FILE:LINE` of a location, as generated files cite their source (`mlc compile` shows
    files relative to the project root); `?` when unknown."""
    return f"{loc.file.replace(chr(92), '/')}:{loc.line}" if loc else "?"


def folder_from(path: str, target: str) -> list[str]:
    """The folder holding `target`, as path parts relative to the folder holding `path` (both
    bundle paths): how a generated file finds a module the bundle ships beside it."""
    return posixpath.relpath(posixpath.dirname(target), posixpath.dirname(path)).split("/")


def owner(path: str) -> str | None:
    """The backend that writes `path` (its first folder), or None for the bundle's own files."""
    return None if path in (MANIFEST, IR) else path.partition("/")[0]
