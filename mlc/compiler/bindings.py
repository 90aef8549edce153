"""Where every source and offline store is, in each env: resolved once, for every backend.

A source says *what* it reads (`kafka(topic = "events", format = json)`), an env says
*how* each logical connector is reached there (`kafka = files("data/events")` locally,
`kafka = kafka(bootstrap = ...)` in prod). `environments(program)` joins the two for
every env of the program into `ir.Environment`s: each binding's connector and settings
(defaults filled in), and each source's and offline store's `ir.Location`. Backends read
these; none joins bindings itself. A use that no binding can serve (a Kafka binding used
as a Hive table, an offline table on Hive) is a diagnostic here (E0503), at check time.
"""

from __future__ import annotations

import re
from typing import Any

from mlc.compiler import ir
from mlc.diagnostics import Diagnostic, Label, error

# What each standard connector kind can serve when a use of another kind is bound to it.
_SERVES = {"files": {"files", "kafka", "hive", "s3"}, "kafka": {"kafka"}, "hive": {"hive"}, "s3": {"s3", "files"}}


def secret_env(name: str) -> str:
    """The environment variable a generated job reads a `secret("name")` from."""
    return "MLC_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _value(e: ir.Expr) -> Any:
    if e.op == "secret":
        return ir.Secret(name=str(e.value), env=secret_env(str(e.value)))
    if e.op == "list":
        return [_value(a) for a in e.args]
    if e.op == "ref":
        return e.name
    return e.value


def arguments(program: ir.Program, use: ir.ConnectorUse, side: str) -> tuple[str, dict[str, Any]]:
    """(the connector's own name, its arguments by name with defaults filled in) of a call;
    `side` is "env" (an env binding) or "source" (a source or an offline store)."""
    target = use.connector.target or use.connector.name or ""
    conn = program.connectors.get(target)
    params = (conn.env_params if side == "env" else conn.source_params) if conn else ()
    args: dict[str, Any] = {}
    for p, e in zip(params, use.positional):
        args[p.name] = _value(e)
    for name, e in sorted(use.args.items()):
        args[name] = _value(e)
    for p in params:
        if p.name not in args and p.default is not None:
            args[p.name] = _value(p.default)
    return target.rsplit(".", 1)[-1], args


def _join(root: str, *parts: str) -> str:
    path = "/".join(p.strip("/") for p in (root, *parts) if p and p.strip("/"))
    return ("/" if root.startswith("/") else "") + path


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _secret(v: Any) -> ir.Secret | None:
    return v if isinstance(v, ir.Secret) else None


def locate(kind: str, args: dict[str, Any], bound: str, env_args: dict[str, Any]) -> ir.Location:
    """Where a use of connector `kind` (with `args`) is when its binding is `bound` (with
    `env_args`). The caller has checked that `bound` serves `kind` (`_SERVES`)."""
    if bound == "files":
        root = str(env_args.get("root") or "")
        if kind == "kafka":
            return ir.Location(kind="files", path=_join(root, str(args.get("topic") or "")),
                               format=_text(args.get("format")) or "json")
        if kind == "hive":
            return ir.Location(kind="files", path=_join(root, str(args.get("table") or "").rsplit(".", 1)[-1]),
                               format="parquet")
        return ir.Location(kind="files", path=_join(root, str(args.get("path") or "")),
                           format=_text(args.get("format")) or "parquet")
    if bound == "kafka":
        return ir.Location(kind="kafka", topic=_text(args.get("topic")), format=_text(args.get("format")) or "json",
                           group=_text(args.get("group")), bootstrap=_text(env_args.get("bootstrap")),
                           security_protocol=_text(env_args.get("security_protocol")) or "SASL_SSL",
                           credentials=_secret(env_args.get("credentials")))
    if bound == "hive":
        return ir.Location(kind="hive", table=_text(args.get("table")), metastore=_text(env_args.get("metastore")),
                           credentials=_secret(env_args.get("credentials")))
    return ir.Location(kind=bound, bucket=_text(env_args.get("bucket")),
                       path=str(args.get("path") or "").strip("/") if bound == "s3" else _text(args.get("path")),
                       format=_text(args.get("format")) or ("parquet" if bound == "s3" else None),
                       endpoint=_text(env_args.get("endpoint")), region=_text(env_args.get("region")),
                       credentials=_secret(env_args.get("credentials")))


def environments(program: ir.Program) -> tuple[dict[str, ir.Environment], list[Diagnostic]]:
    """Every env of the program (the `env NAME` blocks of all packages merged), resolved."""
    found: dict[str, dict[str, ir.ConnectorUse]] = {}
    for _key, e in sorted(program.envs.items()):
        found.setdefault(e.name, {}).update(e.bindings)
    uses = [(f"source `{s.name}`", "source", key, s.connector) for key, s in sorted(program.sources.items())
            if s.connector is not None]
    uses += [(f"the offline store of `{g.name}`", "offline", key, g.offline)
             for key, g in sorted(program.feature_groups.items()) if g.offline is not None]
    uses += [(f"the log of service `{s.name}`", "log", key, s.logging.destination)
             for key, s in sorted(program.feature_services.items()) if s.logging is not None]
    uses += [(f"artifact `{a.name}`", "artifact", key, a.location) for key, a in sorted(program.artifacts.items())]
    stores: dict[str, ir.FeatureStoreSpec] = {}
    for _key, e in sorted(program.envs.items()):
        if e.feature_store is not None:
            stores[e.name] = e.feature_store
    out: dict[str, ir.Environment] = {}
    diags: list[Diagnostic] = []
    for name, uses_of_env in sorted(found.items()):
        bindings: dict[str, ir.Binding] = {}
        alerts: dict[str, ir.Binding] = {}   # where alerts go is not where data is
        for logical, use in sorted(uses_of_env.items()):
            connector, args = arguments(program, use, "env")
            decl = program.connectors.get(use.connector.target or "")
            held = alerts if decl is not None and "alert" in decl.kinds else bindings
            held[logical] = ir.Binding(connector=connector, settings=args, loc=use.loc)
        located: dict[str, dict[str, ir.Location]] = {"source": {}, "offline": {}, "log": {}, "artifact": {}}
        for what, role, key, use in uses:
            if use.connector.target is None:
                continue  # an unknown connector: E0202 says so, and nothing can be located through it
            kind, args = arguments(program, use, "source")
            binding = bindings.get(use.connector.name or "")
            bound, env_args = (binding.connector, binding.settings) if binding else (kind, {})
            served = _SERVES.get(bound)
            used = program.connectors.get(use.connector.target)
            if role != "source" and used is not None and used.kinds and "offline" not in used.kinds:
                continue  # a connector that cannot hold files at all: E0207 says so, once for every env
            if served is not None and (kind not in served or (role != "source" and bound == "hive")):
                needs = {"source": f"a {kind} connection", "artifact": "files or an object store"}.get(
                    role, "an offline table (Parquet files)")
                diags.append(error(
                    "E0503", f"`{use.connector.name}` is bound to {bound} in env `{name}`, which cannot serve "
                             f"{what}: it needs {needs}", use.loc,
                    labels=(Label(binding.loc, f"bound to {bound} here"),) if binding and binding.loc else (),
                    help="bind it to a connector of that kind in this env, or point the use at another binding"))
                continue
            if served is None:  # a connector the standard library does not define: its settings only
                location = ir.Location(kind=bound, settings={**env_args, **args})
            else:
                location = locate(kind, args, bound, env_args)
            located[role][key] = location
        out[name] = ir.Environment(name=name, bindings=bindings, sources=located["source"],
                                   offline=located["offline"], service_logs=located["log"],
                                   artifacts=located["artifact"], alerts=alerts,
                                   feature_store=_feature_store(stores.get(name)))
    return out, diags


def _feature_store(spec: ir.FeatureStoreSpec | None) -> ir.FeatureStore:
    """An env's feature store: what it declares, the defaults (`ir.FeatureStore`) for the rest."""
    if spec is None:
        return ir.FeatureStore()
    default = ir.FeatureStore()
    kind = spec.online_kind or default.online_kind
    path = spec.online_path if spec.online_path is not None else (default.online_path if kind == "sqlite" else None)
    return ir.FeatureStore(online_kind=kind, online_path=path, registry=spec.registry or default.registry,
                           declared=True)
