"""The expressions of a flow's steps: what their names mean and whether their operands fit.

- E0202 a name in a step's `env`, `when`, `foreach ... in` or `emits` payload that is
  neither a parameter of the flow, `run.id`, the step's `foreach` variable, nor (in a
  payload) one of the step's metrics;
- E0303 a parameter whose default is not of its type; an operator whose operands do not
  fit: `+` on a number and a string, `-` on strings, `region > 3` with a string `region`.

Types are told in three kinds: numbers (ints and floats), strings (dates and timestamps
are written as strings) and booleans; other values are not judged. `+` adds numbers or
joins strings, as the backends evaluate it. Payload values are typed against the
signal's fields by the type checks, not here.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.diagnostics import did_you_mean, error

# the literal kinds a parameter's default may be, by the parameter's type
_DEFAULT_KINDS = {"string": {"string"}, "int": {"int"}, "float": {"int", "float"}, "bool": {"bool"},
                  "duration": {"duration"}, "date": {"string"}, "timestamp": {"string"}}

# a literal's or a type's kind, as the operators see it. Durations, sizes and percentages
# are left out: a parameter's duration reaches a run as written (`"1h30m"`), a literal one as
# a number of milliseconds, so what fits depends on the backend
_KIND = {"int": "number", "float": "number", "string": "string", "date": "string", "timestamp": "string",
         "bool": "bool"}


def _a(kind: str | None) -> str:
    return f"an {kind}" if kind and kind[0] in "aeiou" else f"a {kind}"


def _param_kind(t: ir.TypeSpec) -> str | None:
    return "list" if t.element is not None else _KIND.get(t.name)


class _Typer:
    """The kind of an expression, reporting operators whose operands do not fit."""

    def __init__(self, ctx: Context, kinds: dict[str, str | None]) -> None:
        self.ctx = ctx
        self.kinds = kinds

    def kind(self, e: ir.Expr) -> str | None:
        if e.op == "lit":
            return _KIND.get(e.kind or "")
        if e.op == "ref":
            return self.kinds.get(e.name or "")
        if e.op == "list":
            for a in e.args:
                self.kind(a)
            return "list"
        if e.op == "unop":
            operand = self.kind(e.args[0])
            if e.name == "not":
                return "bool"
            if operand is not None and operand != "number":
                self._report(e, f"`-` works on numbers; here it has {_a(operand)}", None)
            return operand if operand == "number" else None
        if e.op == "binop":
            return self._binop(e)
        for a in e.args:  # a call or an argument: what its arguments say
            self.kind(a)
        return None

    def _binop(self, e: ir.Expr) -> str | None:
        a, b = self.kind(e.args[0]), self.kind(e.args[1])
        op = e.name
        if op in ("and", "or", "in"):
            return "bool"
        known = a is not None and b is not None and "list" not in (a, b)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if known and a != b:
                self._report(e, f"`{op}` compares {_a(a)} with {_a(b)}",
                             "compare values of one kind: numbers, strings or booleans")
            return "bool"
        if a == b == "number" or (op == "+" and a == b == "string"):
            return a
        if known:
            what = "adds numbers or joins strings" if op == "+" else "works on numbers"
            self._report(e, f"`{op}` {what}; here it has {_a(a)} and {_a(b)}", None)
        return None

    def _report(self, e: ir.Expr, message: str, help: str | None) -> None:
        self.ctx.report(error("E0303", message, e.loc, help=help))


def _foreach_kind(items: ir.Expr, params: dict[str, ir.Param]) -> str | None:
    """The kind of a `foreach` variable: the element kind of its list, when one is told."""
    if items.op == "ref" and items.name in params:
        element = params[items.name].type.element
        return _KIND.get(element.name) if element is not None else None
    if items.op == "list":
        kinds = {_KIND.get(a.kind or "") if a.op == "lit" else None for a in items.args}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _unknown_names(ctx: Context, flow: ir.Flow, e: ir.Expr, names: set[str], var: str | None,
                   metrics: bool = False) -> bool:
    """Reports the names `e` uses that mean nothing here; whether there were any."""
    if e.op == "ref":
        name = e.name or ""
        if name in names or name == "run.id" or name == var or (metrics and "." not in name):
            return False
        known = sorted(names) + ["run.id"] + ([var] if var else [])
        listed = ", ".join(f"`{n}`" for n in known)
        ctx.report(error("E0202", f"unknown name `{name}` in flow `{flow.name}`", e.loc,
                         help=did_you_mean(name, known),
                         notes=(f"names here: {listed} (the flow's parameters, the run's id"
                                + (", the step's `foreach` variable)" if var else ")"),)))
        return True
    found = False
    for a in e.args:
        found = _unknown_names(ctx, flow, a, names, var, metrics) or found
    return found


def _check_flow(ctx: Context, flow: ir.Flow) -> None:
    params = {p.name: p for p in flow.params}
    for p in flow.params:
        allowed = _DEFAULT_KINDS.get(p.type.name)
        d = p.default
        if allowed and d is not None and d.op == "lit" and d.kind not in allowed and not p.type.element:
            ctx.report(error("E0303", f"the default of `{p.name}` is {_a(d.kind)}, but `{p.name}` is "
                                      f"{_a(p.type.name)}", d.loc or p.loc))
    kinds: dict[str, str | None] = {name: _param_kind(p.type) for name, p in params.items()}
    kinds["run.id"] = "string"
    for s in flow.steps:
        var = s.foreach.var if s.foreach else None
        typer = _Typer(ctx, {**kinds, var: _foreach_kind(s.foreach.items, params)} if var else kinds)
        if s.foreach is not None and not _unknown_names(ctx, flow, s.foreach.items, set(params), None):
            _Typer(ctx, kinds).kind(s.foreach.items)
        for e in [*s.env.values(), *([s.when] if s.when else [])]:
            if not _unknown_names(ctx, flow, e, set(params), var):
                typer.kind(e)
        for emit in s.emits:  # a payload may also carry the step's metrics: bare names
            for e in emit.payload.values():
                _unknown_names(ctx, flow, e, set(params), None, metrics=True)


def check(ctx: Context) -> None:
    for flow in ctx.program.flows.values():
        _check_flow(ctx, flow)
