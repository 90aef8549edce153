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

    # the deployment's namespace (`mlc compile --branch`) ----------------------
    def branched(self, name: str) -> str:
        """A name deployments share (a DAG id, an asset's name): a test branch's own
        (`test.alice.train_ranker`), so that it never meets production's."""
        return f"{self.program.branch}.{name}" if self.program.branch else name

    def branched_uri(self, kind: str, key: str) -> str:
        """The compiler's address of a flow, signal, feature group or artifact asset."""
        return f"mlc://{self.program.branch}/{kind}/{key}" if self.program.branch else f"mlc://{kind}/{key}"

    @staticmethod
    def branch_folder(branch: str) -> str:
        """The folder of everything test branch `branch` writes, below where production writes: its
        data (`written`), its local deploy root and its S3 release prefix (`mlc deploy --branch`)."""
        return f"branches/{branch}"

    def written(self, loc: ir.Location) -> ir.Location:
        """A location a deployment writes (an offline table, an artifact, a service's logs), as this
        deployment writes it: a test branch's under `branches/<branch>/` (after the bucket for s3,
        in the path's own folder when absolute), so that it never overwrites production's data.
        Sources stay as they are: a branch reads the real inputs."""
        branch = self.program.branch
        if not branch or loc.kind not in ("files", "s3"):
            return loc
        folder = self.branch_folder(branch)
        path = loc.path or str(loc.settings.get("path") or "")
        if path.startswith("/"):
            parent, leaf = posixpath.split(path.rstrip("/"))
            moved = posixpath.join(parent, folder, leaf)
        else:
            moved = posixpath.join(folder, path).rstrip("/")
        return loc.model_copy(update={"path": moved})

    def written_file(self, path: str) -> str:
        """A file a deployment writes named by a bare path (the Feast registry, a SQLite online
        store): a test branch's own file beside production's, `DIR/BRANCH.NAME` (Feast makes only
        the last folder of these paths, so they cannot move under `branches/`)."""
        if not self.program.branch:
            return path
        folder, name = posixpath.split(path)
        return posixpath.join(folder, f"{self.program.branch}.{name}")

    def environment(self, env: str) -> ir.Environment:
        """Env `env` as this deployment uses it: every location it writes (offline stores, artifacts,
        service logs, the feature store's registry and SQLite file) on the branch (`written`);
        sources as declared; alert destinations as a branch may call them (`branch_alert`). Every
        backend reads locations and destinations through this."""
        resolved = self.program.environments[env]
        if not self.program.branch:
            return resolved
        fs = resolved.feature_store or ir.FeatureStore()
        return resolved.model_copy(update={
            "offline": {k: self.written(v) for k, v in resolved.offline.items()},
            "artifacts": {k: self.written(v) for k, v in resolved.artifacts.items()},
            "service_logs": {k: self.written(v) for k, v in resolved.service_logs.items()},
            "alerts": {k: self.branch_alert(v) for k, v in resolved.alerts.items()},
            # a consumer group is state the reader writes (its offsets): production's would lose records
            "sources": {k: v.model_copy(update={"group": self.branched(v.group)}) if v.group else v
                        for k, v in resolved.sources.items()},
            "feature_store": fs.model_copy(update={
                "registry": self.written_file(fs.registry),
                "online_path": self.written_file(fs.online_path) if fs.online_kind == "sqlite" and fs.online_path
                else fs.online_path})})

    @staticmethod
    def branch_alert(binding: ir.Binding) -> ir.Binding:
        """Where an alert destination's alerts go from a test branch: a pager or a chat channel only
        when its binding says `branches = true` (a staging env's dev channel); any other becomes the
        run's log (`log()`), so a failing test branch never pages production's oncall."""
        if binding.connector == "log" or binding.settings.get("branches") is True:
            return binding
        return ir.Binding(connector="log", settings={"instead_of": binding.connector}, loc=binding.loc)

    def artifact_location(self, key: str, env: str) -> str:
        """Where artifact `key` is in `env`, as a step receives it (`MLC_ARTIFACT_<NAME>`): a path
        relative to the project root for files, `s3://bucket/path` for s3 (a branch's: `written`)."""
        loc = self.environment(env).artifacts[key]
        if loc.kind == "s3":
            return "s3://" + posixpath.join(loc.bucket or "", loc.path or "").rstrip("/")
        return loc.path or str(loc.settings.get("path") or "")

    @staticmethod
    def artifact_variable(name: str) -> str:
        """The environment variable that holds artifact `name`'s location in a step."""
        return "MLC_ARTIFACT_" + name.upper()

    def binding_output(self, binding: ir.Binding) -> ir.Location | None:
        """The root below which this deployment writes through a files or s3 binding (a user job's
        own outputs): the binding's root, a test branch's folder below it (`written`); None for
        bindings no job writes files under (hive, kafka)."""
        if binding.connector == "files":
            return self.written(ir.Location(kind="files", path=str(binding.settings.get("root") or "")))
        if binding.connector == "s3":
            return self.written(ir.Location(kind="s3", bucket=str(binding.settings.get("bucket") or ""), path=""))
        return None

    def local_data_roots(self) -> list[str]:
        """The folders every env's `files(root)` bindings read and write (data, offline tables,
        artifacts), as written, each once: what replacing a compile's output folder must keep
        when one lies inside it (`files("build/s3")` beside `mlc compile --out build`)."""
        roots = {str(b.settings.get("root") or "") for env in self.program.environments.values()
                 for b in env.bindings.values() if b.connector == "files"}
        return sorted(r for r in roots if r)

    def stored_models(self, keys) -> dict[str, str]:
        """The name in the BentoML store (`served_model`) by bundle name of the models `keys` and
        of those they fall back to, transitively: what a step that trains or uses those models
        saves and loads under (`MLC_BENTO_MODELS`). Only those: a step's environment must not
        grow with every model of the program."""
        models = self.program.models
        todo, seen = [k for k in keys if k in models], set()
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            fallback = models[key].fallback
            if fallback is not None and fallback.model.target in models:
                todo.append(fallback.model.target)
        return {self.model_id(k): self.served_model(k) for k in sorted(seen)}

    def label(self, kind: str, key: str) -> str:
        """The value of the label naming a declaration in the metrics a deployment pushes and the
        rules and dashboards read (`model`, `group`, `flow`, `slo`; `kind` is `models`, `features`,
        `flows` or `slos`): a branch's own (`branched`), as its DAG ids are, so that a test
        deployment's series never feed production's alerts."""
        name = {"models": self.model_id, "features": self.group_id, "flows": self.flow_id,
                "slos": self.slo_id}[kind](key)
        return self.branched(name)

    def feast_project(self, name: str) -> str:
        """The Feast project named `name` (the program's, `feast.target.feast_project`) as this
        deployment registers it: branch `test.alice`'s `test__alice__recs`, so its registry entries and
        online tables (named after the project) are its own."""
        return f"{feast_name(self.program.branch).replace('-', '_')}__{name}" if self.program.branch else name

    def job_name(self, key: str, step: str | None = None) -> str:
        """A Spark application's or Flink job's name (and a Kafka consumer group's, unless the env
        names one): feature group `key`'s job, or step `step` of flow `key`; a branch's own."""
        return self.branched(f"{self.flow_id(key)}.{step}" if step else f"mlc.features.{self.group_id(key)}")

    def served_model(self, model_key: str) -> str:
        """A served model's name in BentoML (its service, its store tag `NAME:latest`) and in its
        metrics' `model` label: a branch's own (`test.alice.ranker`)."""
        return self.label("models", model_key)

    # airflow ------------------------------------------------------------------
    @staticmethod
    def airflow_folder(name: str) -> str:
        """One of Airflow's folders in the bundle (`dags`, `plugins`); a deployed Airflow home
        links to these."""
        return f"airflow/{name}"

    @classmethod
    def declarations(cls) -> str:
        """The signals and flow params a deploy keeps in its release (`mlc.deploy.declarations`),
        which `mlc signal`/`mlc trigger` type payloads against: beside the DAG folder, not in it."""
        return f"{cls.airflow_folder('declarations')}.json"

    def flow_dag(self, key: str) -> str:
        return f"{self.airflow_folder('dags')}/{self.flow_id(key)}.py"

    def features_dag(self, key: str) -> str:
        return f"{self.airflow_folder('dags')}/features.{self.group_id(key)}.py"

    def airflow_plugin(self, name: str) -> str:
        return f"{self.airflow_folder('plugins')}/{name}.py"

    @classmethod
    def airflow_dags_file(cls, name: str) -> str:
        """A file of the DAG folder that is not a DAG (the DAGs' shared helper module, `.airflowignore`)."""
        return f"{cls.airflow_folder('dags')}/{name}"

    def airflow_runtime(self, key: str) -> str:
        """A step runtime's spec (python, pypi), from which a local deploy makes its environment."""
        return f"{self.airflow_folder('runtimes')}/{key}.json"

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

    # feast ---------------------------------------------------------------------
    @staticmethod
    def feast_repo() -> str:
        """The Feast feature repository of the bundle's env (`feast -c` takes this folder); the
        same for every program, so a deploy finds it without the program."""
        return "feast"

    @classmethod
    def feast_store_yaml(cls) -> str:
        return f"{cls.feast_repo()}/feature_store.yaml"

    @classmethod
    def feast_definitions(cls) -> str:
        """The repository's one Python file: its entities, sources, views and services."""
        return f"{cls.feast_repo()}/definitions.py"

    @classmethod
    def feast_ignore(cls) -> str:
        return f"{cls.feast_repo()}/.feastignore"

    @classmethod
    def feast_runtime(cls) -> str:
        """Training sets and materialisation (one per bundle; `.feastignore` keeps it out of
        what the Feast CLI imports)."""
        return f"{cls.feast_repo()}/runtime/mlc_feast_runtime.py"

    @cached_property
    def _entities(self) -> dict[str, str]:
        return _unique(self.program.entities)

    def entity_id(self, key: str) -> str:
        """An entity's name in the feature store."""
        return feast_name(self._entities[key])

    @cached_property
    def _sources(self) -> dict[str, str]:
        return _unique(self.program.sources)

    def source_id(self, key: str) -> str:
        """A declared source's name in the feature store (a registered group's table, a push
        or request source)."""
        return feast_name(self._sources[key])

    @cached_property
    def _services(self) -> dict[str, str]:
        return _unique(self.program.feature_services)

    def feature_view_id(self, key: str) -> str:
        """A feature group's Feast feature view (or on-demand view): the group's id, as Feast
        can take it (`feast_name`)."""
        return feast_name(self.group_id(key))

    def push_source_id(self, key: str) -> str:
        """The Feast push source of a stream group (the Flink publisher pushes to it)."""
        return f"{self.feature_view_id(key)}_push"

    def service_id(self, key: str) -> str:
        """A declared feature service's name in Feast."""
        return feast_name(self._services[key])

    def model_service(self, model_key: str) -> str:
        """The Feast feature service a model is served and trained with: the one its
        `Model.service` names, else the service named after the model that holds exactly its
        inputs (which the Feast target writes). BentoML and training steps ask this too."""
        model = self.program.models[model_key]
        target = model.service.target if model.service is not None else None
        if target in self.program.feature_services:
            return self.service_id(target)
        return feast_name(self.model_id(model_key))

    # backends to come (the Airflow DAGs already call them) ----------------------

    @staticmethod
    def bento_root() -> str:
        """The folder of every served model's folder."""
        return "bentoml"

    @classmethod
    def bento_folder(cls, name: str) -> str:
        """The folder of the served model `name` (its `model_id`): what `bentoml build` builds."""
        return f"{cls.bento_root()}/{name}"

    def bento_service(self, model_key: str) -> str:
        """A served model's folder (the deploy step names it)."""
        return self.bento_folder(self.model_id(model_key))

    def bento_service_file(self, model_key: str) -> str:
        return f"{self.bento_service(model_key)}/service.py"

    @classmethod
    def bentofile(cls, name: str) -> str:
        """The `bentofile.yaml` of the served model `name`."""
        return f"{cls.bento_folder(name)}/bentofile.yaml"

    def bento_bentofile(self, model_key: str) -> str:
        return self.bentofile(self.model_id(model_key))

    def bento_runtime(self, model_key: str) -> str:
        """The BentoML runtime, one copy in each service's folder (a build takes only its folder)."""
        return f"{self.bento_service(model_key)}/mlc_bento_runtime.py"

    # prometheus (and its Grafana dashboards) -----------------------------------
    @cached_property
    def _slos(self) -> dict[str, str]:
        return _unique(self.program.slos)

    def slo_id(self, key: str) -> str:
        """An SLO's name in the monitoring rules (the `slo` label of its series and alerts)."""
        return self._slos[key]

    def prometheus_rules(self, kind: str, key: str) -> str:
        """The rule file of one watched declaration: `kind` is `models`, `features` or `flows`."""
        name = {"models": self.model_id, "features": self.group_id, "flows": self.flow_id}[kind](key)
        return f"prometheus/rules/{kind}/{name}.yml"

    def grafana_dashboard(self, kind: str, key: str) -> str:
        """A Grafana dashboard (JSON) of a model or a flow: `kind` is `models` or `flows`."""
        name = {"models": self.model_id, "flows": self.flow_id}[kind](key)
        return f"prometheus/dashboards/{kind}/{name}.json"


def feast_name(name: str) -> str:
    """A bundle name as the feature store takes it: a qualified name's dots become `__`
    (Feast's SQLite online store names a table after the project and the view, unquoted)."""
    return name.replace(".", "__")


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
