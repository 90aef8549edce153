"""Connectors, environments and credentials.

- E0208 an argument the connector does not take; E0209 a required one missing;
- E0501 an env with no binding for a connector that a source or store needs;
- E0502 a literal credential where `secret("name")` belongs.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.diagnostics import Label, closest, did_you_mean, error

# Argument names that hold credentials whatever the connector says.
_CREDENTIAL_WORDS = ("password", "passwd", "secret", "token", "credentials", "api_key", "access_key")


def _is_credential(param: ir.ParamSpec | None, name: str) -> bool:
    if param is not None and param.type.name == "secret":
        return True
    lowered = name.lower()
    return any(w in lowered for w in _CREDENTIAL_WORDS)


def _check_args(ctx: Context, use: ir.ConnectorUse, params: tuple[ir.ParamSpec, ...], where: str) -> None:
    by_name = {p.name: p for p in params}
    given: set[str] = set()
    meant: set[str] = set()  # options a misspelt one names: E0208 says "did you mean", not also E0209
    for i, value in enumerate(use.positional):
        if i >= len(params):
            ctx.report(error("E0208", f"`{use.connector.name}` takes at most {len(params)} positional "
                                      f"argument{'s' * (len(params) != 1)} {where}", value.loc,
                             help="name the argument: `name = value`"))
            break
        given.add(params[i].name)
        _check_value(ctx, params[i], params[i].name, value)
    for name, value in use.args.items():
        param = by_name.get(name)
        if param is None:
            near = closest(name, by_name)
            meant.add(near or "")
            ctx.report(error("E0208", f"`{use.connector.name}` has no option `{name}` {where}",
                             use.arg_locs.get(name) or value.loc, help=f"did you mean `{near}`?" if near else None,
                             notes=(f"its options: {', '.join(by_name) or 'none'}",)))
            _check_value(ctx, None, name, value)
            continue
        if name in given:
            ctx.report(error("E0208", f"`{name}` is given twice", value.loc))
        given.add(name)
        _check_value(ctx, param, name, value)
    missing = [p.name for p in params
               if p.name not in given | meant and p.default is None and not p.type.nullable]
    if missing:
        ctx.report(error("E0209", f"`{use.connector.name}` needs `{missing[0]}` {where}", use.loc,
                         help=f"add `{missing[0]} = ...`" + (f" (also missing: {', '.join(missing[1:])})"
                                                            if missing[1:] else "")))


def _check_value(ctx: Context, param: ir.ParamSpec | None, name: str, value: ir.Expr) -> None:
    if _is_credential(param, name) and value.op != "secret":
        if value.op == "lit" and value.kind == "string":
            ctx.report(error("E0502", f"`{name}` is a credential written as a literal", value.loc,
                             help=f'store it in a secret store and write `{name} = secret("...")`',
                             notes=("a credential in a .flow file ends up in version control and in "
                                    "every generated artifact",)))
        return
    if param is None or value.op == "secret":
        return
    if param.type.name == "secret":
        return
    if param.type.name == "enum" and value.op == "ref" and value.name not in param.type.args:
        ctx.report(error("E0303", f"`{name}` is one of {', '.join(param.type.args)}; got `{value.name}`",
                         value.loc, help=did_you_mean(value.name or "", param.type.args)))
    elif param.type.name == "string" and not (value.op == "lit" and value.kind == "string"):
        ctx.report(error("E0303", f"`{name}` takes a string", value.loc))
    elif param.type.name == "bool" and not (value.op == "lit" and value.kind == "bool"):
        said = value.name if value.op == "ref" else (value.text or str(value.value))
        ctx.report(error("E0303", f"`{name}` takes true or false", value.loc,
                         help=did_you_mean(str(said).lower(), ["true", "false"])
                         or f"write `{name} = true` or `{name} = false`"))


def _connector(ctx: Context, use: ir.ConnectorUse) -> ir.Connector | None:
    return ctx.program.connectors.get(use.connector.target or "")


def check(ctx: Context) -> None:
    p = ctx.program
    needed: dict[str, list[tuple[str, object]]] = {}  # connector name -> (what needs it, loc)
    for src in p.sources.values():
        if src.connector is None:  # a push or request source reads nothing itself
            continue
        conn = _connector(ctx, src.connector)
        if conn is None:
            continue
        if conn.kinds and src.kind not in conn.kinds:
            ctx.report(error("E0207", f"connector `{conn.name}` cannot read a {src.kind}", src.connector.loc,
                             notes=(f"`{conn.name}` reads: {', '.join(conn.kinds)}",)))
        _check_args(ctx, src.connector, conn.source_params, f"in source `{src.name}`")
        needed.setdefault(src.connector.connector.name, []).append((f"source `{src.name}`", src.connector.loc))
    stores = [(f"the offline store of `{fg.name}`", fg.offline) for fg in p.feature_groups.values()
              if fg.offline is not None]
    stores += [(f"the log of service `{s.name}`", s.logging.destination) for s in p.feature_services.values()
               if s.logging is not None]
    # an artifact is files at a place, as an offline store is
    stores += [(f"artifact `{a.name}`", a.location) for a in p.artifacts.values()]
    for what, use in stores:
        conn = _connector(ctx, use)
        if conn is None:
            continue
        if conn.kinds and "offline" not in conn.kinds:
            holders = sorted(c.name for c in p.connectors.values() if "offline" in c.kinds)
            ctx.report(error("E0207", f"connector `{conn.name}` cannot hold {what}: it holds no files", use.loc,
                             notes=(f"`{conn.name}` is for: {', '.join(conn.kinds)}",),
                             help=f"use a connector that holds files: {', '.join(f'`{h}`' for h in holders)}"
                             if holders else None))
        _check_args(ctx, use, conn.source_params, f"in {what}")
        needed.setdefault(use.connector.name, []).append((what, use.loc))
    for env in p.envs.values():
        for logical, use in env.bindings.items():
            conn = _connector(ctx, use)
            if conn is not None:
                _check_args(ctx, use, conn.env_params, f"in env `{env.name}`")
        for logical, users in sorted(needed.items()):
            if logical in env.bindings:
                continue
            what, loc = users[0]
            ctx.report(error(
                "E0501", f"env `{env.name}` has no binding for `{logical}`, which {what} needs",
                env.loc, labels=(Label(loc, "needed here"),),
                help=f"add `{logical} = ...` to env `{env.name}`"))
