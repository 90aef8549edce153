"""Lowers served models to BentoML services.

A model is served when it has a `serve { }` block or a flow deploys it (`deploy(model)`: the
Airflow DAG builds its service folder, so one must exist). Each served model gets a folder
(`layout.bento_service`) holding:
- `service.py`: its docstring, one literal `SPEC` and a `@bentoml.service` class that binds
  `/predict` to the runtime (`templates/runtime/mlc_bento_runtime.py`);
- the runtime, copied beside it, so that `bentoml build` of the folder takes it along;
- `bentofile.yaml`, which builds offline (`lock_packages: false`, packages pinned here).

The service reads the model's online features from the Feast repository (`layout.feast_repo`)
through the model's feature service, runs `NAME:latest` from the BentoML model store and
falls back to the declared deterministic model; see docs/targets/bentoml.md.
"""

from __future__ import annotations

from pathlib import Path

from mlc.compiler import ir
from mlc.compiler.metrics import FALLBACK_REASONS, model_metrics
from mlc.diagnostics import Diagnostic, error
from mlc.targets import Artifact
from mlc.targets.layout import Layout, folder_from, source_line
from mlc.targets.literals import py
from mlc.targets.templating import TargetError, jinja_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME = TEMPLATES / "runtime" / "mlc_bento_runtime.py"

# What a service needs besides its model's framework: the versions the serving environment
# pins (engines/serving.txt), so that a built Bento runs what the tests ran.
SERVICE_PACKAGES = ("feast==0.67.0", "prometheus-client==0.24.1")
FRAMEWORK_PACKAGES = {"sklearn": "scikit-learn==1.7.2", "xgboost": "xgboost", "lightgbm": "lightgbm"}

# The request fields a service can check: a key or a request field of another type is E1203.
# Sized ints and floats are checked as ints and numbers.
FIELD_TYPES = {"string": "string", "int": "int", "int32": "int", "int64": "int", "float": "float",
               "float32": "float", "float64": "float", "bool": "bool", "enum": "enum"}
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


def served(program: ir.Program) -> list[str]:
    """Keys of the models that get a service: those with `serve { }` and those deployed."""
    keys = {k for k, m in program.models.items() if m.serve is not None}
    for flow in program.flows.values():
        for step in flow.steps:
            if step.kind == "deploy" and step.args and str(step.args[0].value) in program.models:
                keys.add(str(step.args[0].value))
    return sorted(keys)


def inputs(program: ir.Program, model: ir.Model) -> list[tuple[str, str]]:
    """(group key, feature) of each input in declaration order, `group.*` expanded."""
    out: list[tuple[str, str]] = []
    for ref in model.inputs:
        group = program.feature_groups.get(ref.target or "")
        if group is None:
            continue
        names = [f.name for f in group.features] if ref.feature is None else [ref.feature]
        out += [(ref.target, n) for n in names if (ref.target, n) not in out]
    return out


def _groups(program: ir.Program, model: ir.Model) -> list[ir.FeatureGroup]:
    seen: dict[str, ir.FeatureGroup] = {}
    for key, _ in inputs(program, model):
        seen.setdefault(key, program.feature_groups[key])
    return list(seen.values())


def _fields(program: ir.Program, model: ir.Model) -> tuple[list[ir.Field], list[ir.Field]]:
    """(entity key fields, request fields) a request for `model` carries, each name once."""
    keys: dict[str, ir.Field] = {}
    request: dict[str, ir.Field] = {}
    for group in _groups(program, model):
        # a request-time group on no entity asks for no key of its own (what it reads is keyed
        # by the groups it reads, which are in this loop too)
        entity = program.entities.get(group.entity.target or "") if group.entity else None
        for f in entity.keys if entity else ():
            keys.setdefault(f.name, f)
        for f in group.request:
            request.setdefault(f.name, f)
    return list(keys.values()), [f for n, f in request.items() if n not in keys]


def _type(t: ir.TypeSpec) -> list:
    return ["enum", list(t.args)] if t.name == "enum" else [FIELD_TYPES[t.name]]


def condition(e: ir.Expr) -> object:
    """A fallback's `when` as the runtime's tree (`mlc_bento_runtime.holds`); raises
    ValueError at the first part it cannot evaluate."""
    if e.op == "lit" and e.kind in ("int", "float"):
        return e.value
    if e.op == "lit" and e.kind == "bool":
        return bool(e.value)
    if e.op == "ref" and e.name in ("confidence", "unavailable"):
        return e.name
    if e.op == "unop" and e.name == "not":
        return ["not", condition(e.args[0])]
    if e.op == "binop" and e.name in ("and", "or") + _COMPARISONS:
        return [e.name] + [condition(a) for a in e.args]
    raise ValueError(e)


def thresholds(e: ir.Expr | None) -> list[float]:
    """The numbers `confidence` is compared with in a fallback condition."""
    if e is None:
        return []
    if e.op == "binop" and e.name in _COMPARISONS:
        return [float(a.value) for a in e.args if a.op == "lit" and a.kind in ("int", "float")]
    return [t for a in e.args for t in thresholds(a)]


def _fallback_when(model: ir.Model) -> ir.Expr:
    """A fallback without `when` answers when the model cannot."""
    return model.fallback.when or ir.Expr(op="ref", name="unavailable")


# ------------------------------------------------------------------- validate


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for key in served(program):
        model = program.models[key]
        fb = model.fallback
        if fb is not None:
            try:
                condition(_fallback_when(model))
            except ValueError as exc:
                part = exc.args[0]
                out.append(error("E1201", f"the fallback condition of `{model.name}` cannot be evaluated by its "
                                          "service: it may compare `confidence` with numbers and use "
                                          "`unavailable`, `and`, `or`, `not`", part.loc or fb.loc,
                                 help="write e.g. `when confidence < 0.6 or unavailable`"))
            target = program.models.get(fb.model.target or "")
            if target is not None and not target.deterministic:
                out.append(error("E1202", f"the fallback of served model `{model.name}`, `{target.name}`, is "
                                          "nondeterministic: a service falls back to a deterministic model "
                                          "it evaluates itself", fb.model.loc or fb.loc,
                                 help=f"declare `model {target.name} deterministic {{ ... }}`, or fall back to one"))
        out += _offline_inputs(program, model)
        keys, request = _fields(program, model)
        for f in keys + request:
            if f.type.name not in FIELD_TYPES:
                out.append(error("E1203", f"`{f.name}` is a {f.type.name}, which a request to `{model.name}`'s "
                                          "service cannot carry", f.loc,
                                 help="a served model's entity keys and request fields are strings, "
                                      "ints, floats, bools or enums"))
    return out


def _offline_inputs(program: ir.Program, model: ir.Model) -> list[Diagnostic]:
    """E1204: an input of a served model (or of its fallback) in a stored group that is not
    `online`: the feature store has no online value for it, so every request would fall back."""
    out: list[Diagnostic] = []
    fb = program.models.get(model.fallback.model.target or "") if model.fallback else None
    for m in (model, fb) if fb is not None else (model,):
        for ref in m.inputs:
            group = program.feature_groups.get(ref.target or "")
            if group is not None and group.mode != "request" and not group.online:
                whose = "" if m is model else f" (through its fallback `{m.name}`)"
                out.append(error("E1204", f"served model `{model.name}` reads `{group.name}`{whose}, which is not "
                                          "online: its service would find no value for it", ref.loc or m.loc,
                                 help=f"declare `online ttl ...` in `features {group.name}`"))
    return out


# ---------------------------------------------------------------------- lower


def _names(program: ir.Program, layout: Layout, model: ir.Model) -> list[str]:
    """The features of `model` as Feast names them with `full_feature_names`: VIEW__FEATURE."""
    return [f"{layout.feature_view_id(g)}__{f}" for g, f in inputs(program, model)]


def spec(program: ir.Program, layout: Layout, key: str) -> dict:
    model = program.models[key]
    name = layout.served_model(key)
    keys, request = _fields(program, model)
    fallback = None
    fb_key = model.fallback.model.target if model.fallback else None
    if fb_key in program.models:
        fb = program.models[fb_key]
        fb_keys, fb_request = _fields(program, fb)
        fallback = {
            "model": layout.served_model(fb_key),
            "store_tag": f"{layout.served_model(fb_key)}:latest",
            "feature_service": layout.model_service(fb_key),
            "features": _names(program, layout, fb),
            "when": condition(_fallback_when(model)),
        }
    else:
        fb_keys, fb_request = [], []
    row = [f.name for f in keys + request] + [f.name for f in fb_keys + fb_request
                                              if f.name not in {g.name for g in keys + request}]
    when = model.fallback.when if model.fallback else None
    return {
        "model": name,
        "source": source_line(model.loc),
        "store_tag": f"{name}:latest",
        "output": model.output.name if model.output else "score",
        "feature_service": layout.model_service(key),
        "features": _names(program, layout, model),
        "keys": [[f.name, _type(f.type)] for f in keys],
        "request": [[f.name, _type(f.type)] for f in request],
        "row": row,
        "timeout_ms": model.serve.timeout_ms if model.serve else None,
        "fallback": fallback,
        "fallback_reasons": list(FALLBACK_REASONS),
        "feast_repo": folder_from(layout.bento_service_file(key), layout.feast_repo() + "/x"),
        "metrics": model_metrics(program, key, thresholds(when)),
    }


def _packages(program: ir.Program, key: str) -> list[str]:
    model = program.models[key]
    fb = program.models.get(model.fallback.model.target or "") if model.fallback else None
    frameworks = {m.framework for m in (model, fb) if m is not None and m.framework}
    return sorted(set(SERVICE_PACKAGES) | {FRAMEWORK_PACKAGES[f] for f in frameworks if f in FRAMEWORK_PACKAGES})


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    problems = [d for d in validate(program, env, layout) if d.severity.name == "ERROR"]
    if problems:
        raise TargetError(problems)
    jinja = jinja_environment("mlc.targets.bentoml")
    runtime_text = RUNTIME.read_text()
    out: list[Artifact] = []
    for key in served(program):
        service, runtime, bentofile = layout.bento_service_file(key), layout.bento_runtime(key), \
            layout.bento_bentofile(key)
        s = spec(program, layout, key)
        model = program.models[key]
        text = jinja.get_template("service.py.j2").render(
            spec=s, loc=source_line(model.loc), doc=model.doc or "", env=env,
            model_tag=py(s["store_tag"]), fallback_tag=py(s["fallback"]["store_tag"]) if s["fallback"] else None,
            name=py(s["model"]), runtime=runtime.rsplit("/", 1)[-1])
        out.append(Artifact(service, text, "bentoml-service", key, (runtime, layout.feast_repo())))
        out.append(Artifact(runtime, runtime_text, "bentoml-runtime", None))
        out.append(Artifact(bentofile, jinja.get_template("bentofile.yaml.j2").render(
            name=s["model"], packages=_packages(program, key), env=env, loc=source_line(model.loc),
            files=[p.rsplit("/", 1)[-1] for p in (service, runtime)]),
            "bentoml-bentofile", key, (service, runtime)))
    return out
