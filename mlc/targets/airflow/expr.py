"""Literals and expressions as generated code: the only ways a value of the program reaches a DAG file.

Every value is written as a literal built here (never by pasting source text), and
every name becomes a fixed lookup (`params["x"]`, `result["auc"]`, `run_id`), so no
string of the program can become code. The same expression text serves both places
a flow expression is evaluated: Python (gates, `when`, `foreach`, signal payloads,
payload matches) and Jinja (operator arguments Airflow renders at run time), since
the subset used here — literals, `params[...]`, `and`/`or`/`not`, comparisons,
`in`, `+ - * /`, lists — means the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlc.compiler import ir
from mlc.compiler.infer import Inferrer
from mlc.targets.literals import py, py_str

def jinja_text(s: str) -> str:
    """Template text that Airflow's Jinja renders back to exactly `s` (an inert string).

    Plain text when it holds no `{` and nothing Jinja normalises (a final newline, which
    Airflow's environment drops, or a carriage return); else a raw block; else, when the
    text itself mentions `endraw` or holds a carriage return, one string-literal expression.
    """
    if "\r" in s or "endraw" in s:
        return "{{ " + py_str(s, jinja=True) + " }}"
    if "{" in s or s.endswith("\n"):
        return "{% raw %}" + s + "{% endraw %}"
    return s


# ------------------------------------------------------------------ expressions

# the task that binds parameters to what started the run (`param ds: date = landed.ds`)
BIND_TASK = "params-bind"
_BINOPS = {"or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/"}


class Unsupported(Exception):
    """An expression that cannot be lowered; `node` is where, `why` says what."""

    def __init__(self, why: str, node: ir.Expr | None) -> None:
        super().__init__(why)
        self.why = why
        self.node = node


@dataclass
class Scope:
    """What names mean where an expression is evaluated.

    params: the flow's parameters (name -> type); var: the foreach variable, if any;
    metrics: whether other bare names are fields of the step's result (a gate).
    `used` collects what the expression reads: "params", "run_id", "result", "item", "returns".
    """

    params: dict[str, ir.TypeSpec]
    var: str | None = None
    metrics: bool = False
    used: set[str] = field(default_factory=set)
    trigger: frozenset[str] = frozenset()   # the payload fields `trigger.F` may read
    bound: frozenset[str] = frozenset()     # parameters bound to the run (`run.date`, `S.F`): read from BIND_TASK


def literal_value(e: ir.Expr) -> Any:
    """The plain value of a literal (durations in ms, sizes in bytes), or of a list of them."""
    if e.op == "lit":
        return e.value
    if e.op == "list":
        return [literal_value(a) for a in e.args]
    raise Unsupported("not a literal", e)


def is_constant(e: ir.Expr) -> bool:
    return e.op == "lit" or (e.op == "list" and all(is_constant(a) for a in e.args))


def code(e: ir.Expr, scope: Scope, mode: str = "py") -> str:
    """Expression text for Python (`mode="py"`) or a Jinja expression (`mode="jinja"`)."""
    text = _code(e, scope, mode)
    if e.op in ("binop", "unop") and text.startswith("(") and text.endswith(")"):
        return text[1:-1]
    return text


# A duration parameter's text (`"1h30m"`, checked by its Param's pattern) as milliseconds,
# in plain Python: each unit gets a space after it, then every piece is a number and a unit.
_MS_OF_TEXT = ("sum(int(p[:-1]) * {{\"u\": 1, \"s\": 1000, \"m\": 60000, \"h\": 3600000, \"d\": 86400000, "
               "\"w\": 604800000}}[p[-1]] for p in {}.replace(\"ms\", \"u \").replace(\"s\", \"s \")"
               ".replace(\"m\", \"m \").replace(\"h\", \"h \").replace(\"d\", \"d \").replace(\"w\", \"w \")"
               ".split())")


def _code(e: ir.Expr, scope: Scope, mode: str, operand: bool = False) -> str:
    """`operand`: whether an operator reads the value (a duration parameter is then read as
    milliseconds, as duration literals are written); a value passed whole stays as given."""
    op = e.op
    jinja = mode == "jinja"
    if op == "lit":
        if e.kind == "string":
            return py_str(str(e.value), jinja)
        if e.kind == "bool":
            return "True" if e.value else "False"
        if e.kind == "percent":  # a fraction: 95% is 0.95
            return py(e.value / 100)
        if e.kind in ("int", "float", "duration", "size"):
            return py(e.value)
        raise Unsupported(f"a {e.kind} literal", e)
    if op == "ref" and operand and e.type == "duration" and (e.target or "").startswith("param:"):
        if jinja:
            raise Unsupported(f"duration parameter `{e.name}` inside an operator of a templated value "
                              "(Airflow's templates cannot read its text as milliseconds; pass it whole)", e)
        return _MS_OF_TEXT.format(_code(e, scope, mode))
    if op == "ref":
        # what the name means was decided once (`mlc.compiler.references`); the scope says
        # what this place of the DAG can read of it
        name = e.name or ""
        kind, _, what = (e.target or "").partition(":")
        if kind == "run" and what == "id":
            scope.used.add("run_id")
            return "run_id"
        if kind == "trigger" and what in scope.trigger:
            scope.used.add("trigger")
            if jinja:   # passed to a program as text: a run with no payload passes ""
                return f"mlc_trigger(triggering_asset_events).get({py_str(what, True)}, '')"
            return f"trigger.get({py_str(what)})"
        if kind == "foreach" and what == scope.var:
            scope.used.add("item")
            return "item"
        if kind == "param" and what in scope.bound:
            # bound when the run starts, by the task that checks a run started by hand passed it
            if jinja:
                return f"ti.xcom_pull(task_ids={py_str(BIND_TASK, True)})[{py_str(what, True)}]"
            return f'context["ti"].xcom_pull(task_ids={py_str(BIND_TASK)})[{py_str(what)}]'
        if kind == "param" and what in scope.params:
            scope.used.add("params")
            # In a Jinja template (itself inside a Python string) a name reads best single-quoted.
            return f"params['{what}']" if jinja and what.isidentifier() else f"params[{py_str(what, jinja)}]"
        if kind == "metric" and scope.metrics:
            scope.used.add("result")
            return f"result[{py_str(what, jinja)}]"
        if kind == "returns":
            # a value another step returned (its XCom); a foreach step's: one per instance
            step, _, name = what.partition(".")
            scope.used.add("returns")
            if jinja:
                pulled = f"ti.xcom_pull(task_ids={py_str(step, True)})"
                return (f"({pulled} | map(attribute={py_str(name, True)}) | list)" if e.type == "list"
                        else f"{pulled}[{py_str(name, True)}]")
            return f"_mlc_returned(context, {py_str(step)}, {py_str(name)})"
        raise Unsupported(f"unknown name `{name}`", e)
    if op == "secret":
        if mode == "jinja":
            return f"conn.get({py_str(str(e.value), True)}).password"
        scope.used.add("secret")
        return f"_mlc_secret({py_str(str(e.value))})"
    if op == "list":
        return "[" + ", ".join(_code(a, scope, mode, operand) for a in e.args) + "]"
    if op == "binop" and e.name in _BINOPS and len(e.args) >= 2:
        return _chain(e, [_code(a, scope, mode, True) for a in e.args], scope, mode)
    if op == "unop" and e.name in ("not", "-") and len(e.args) == 1:
        sep = " " if e.name == "not" else ""
        return f"({e.name}{sep}{_code(e.args[0], scope, mode, True)})"
    what = {"call": f"a call of `{e.name}`", "range": "a range", "star": "`*`", "arg": "a named argument"}
    raise Unsupported(what.get(op, f"`{op}`") + " in a flow expression", e)


# Operators written in a row are one node (`a and b and c`); a long row is not written as
# one nested operation per term, which Python's compiler (about 3,000 levels) and Airflow's
# Jinja (a few hundred) cannot take: `and`/`or` are grouped (they are associative, short
# circuits included), `+`/`-` of numbers or durations fold with `sum` (left to right, as
# written: `a - b` is `a + -b` exactly), strings join.
LONG_CHAIN = 16
_GROUP = 8  # `and`/`or` terms per group in a Jinja template


def _chain(e: ir.Expr, parts: list[str], scope: Scope, mode: str) -> str:
    op = e.name or ""
    if len(parts) <= LONG_CHAIN and not (mode == "jinja" and op in ("and", "or") and len(parts) > _GROUP):
        return "(" + f" {op} ".join(parts) + ")"
    if op in ("and", "or"):
        if mode == "py":  # one flat boolean operation to Python, however long
            return "(" + f" {op} ".join(parts) + ")"
        while len(parts) > _GROUP:
            parts = ["(" + f" {op} ".join(parts[i:i + _GROUP]) + ")" for i in range(0, len(parts), _GROUP)]
        return "(" + f" {op} ".join(parts) + ")"
    if op in ("+", "-"):
        t = _chain_type(e)
        if t == "string" and op == "+":
            items = "[" + ", ".join(parts) + "]"
            return f"({items} | join)" if mode == "jinja" else f'"".join({items})'
        if t in ("int", "float", "duration"):
            rest = parts[1:] if op == "+" else [f"(-{p})" for p in parts[1:]]
            items = "[" + ", ".join(rest) + "]"
            return f"({items} | sum(start={parts[0]}))" if mode == "jinja" else f"sum({items}, {parts[0]})"
    return "(" + f" {op} ".join(parts) + ")"


def _chain_type(e: ir.Expr) -> str | None:
    """The type of a row of operators, from the types its refs were resolved with."""
    return Inferrer(lambda ref: ref.type).type_of(e)


def is_list(e: ir.Expr) -> bool:
    """Whether the value is statically a list (rendered as JSON when passed as text): a list
    written out, or a ref resolved to a list (a list parameter, a foreach step's returns)."""
    return e.op == "list" or (e.op == "ref" and e.type == "list")


def check(e: ir.Expr, scope: Scope) -> Unsupported | None:
    try:
        code(e, Scope(scope.params, scope.var, scope.metrics, trigger=scope.trigger))
    except Unsupported as u:
        return u
    return None
