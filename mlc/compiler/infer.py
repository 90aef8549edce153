"""The types of expressions: one inferrer for the checks and for the backends.

A type is a name: `int`, `float`, `string`, `bool`, `date`, `timestamp`, `duration`,
`enum`, `list`, or None when it is not known (a name that did not resolve, reported
elsewhere, or a call the language does not type). What a name means is the caller's
business (a `lookup` from a `ref` node to its type: the columns of a feature group, the
parameters of a flow, ...); what an operator makes of its operands is decided here, once,
for the checks (which report E0303) and for the SQL targets (which need column types):

- literals: `"x"` string, `3` int, `0.5` float, `true` bool, `90m` a duration, `2Gi` an
  int (bytes), `95%` a float (the fraction 0.95);
- a duration is a length of time, held as a whole number of milliseconds; it compares
  with durations only, `+` and `-` take two durations, `*` and `/` a duration and a number;
- `+` adds numbers or durations or joins strings; `-` `*` `/` take numbers (`/` gives a float);
- a comparison takes two numbers, two durations, two booleans, or two of string, date,
  timestamp and enum (dates and enum values are written as strings);
- `and`, `or` and `not` take booleans; `x in [...]` takes a list on its right.

Operators of one kind written in a row (`a and b and c`, `a + b + c`) are one `binop` node
with all their operands (see `mlc/dsl/ast.py`), evaluated left to right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from mlc.compiler import ir
from mlc.diagnostics import Diagnostic, did_you_mean, error

NUMBERS = frozenset({"int", "float"})
# Every type name a declaration may use (`ir.TypeSpec`). The sized numbers type as their
# family (`SIZED`): an int32 adds to an int64 as an int; the width is for stores and engines.
TYPE_NAMES = ("string", "bool", "int", "int32", "int64", "float", "float32", "float64", "bytes", "date",
              "timestamp", "duration", "enum", "map", "json", "struct")
SIZED = {"int32": "int", "int64": "int", "float32": "float", "float64": "float"}
_KNOWN = frozenset(TYPE_NAMES) | {"secret"}
TEXTS = frozenset({"string", "date", "timestamp", "enum"})  # what compares with a string
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
LITERAL_TYPES = {"string": "string", "int": "int", "float": "float", "bool": "bool", "duration": "duration",
                 "size": "int", "percent": "float"}
# Functions an expression may call: name -> (the types its arguments take, or None: any; the
# result: a type, or "arg": the type of its first argument).
FUNCTIONS: dict[str, tuple[frozenset[str] | None, str]] = {
    "abs": (NUMBERS, "arg"),
    "floor": (NUMBERS, "arg"),
    "ceil": (NUMBERS, "arg"),
    "coalesce": (None, "arg"),
    "lower": (frozenset({"string", "enum"}), "string"),
    "upper": (frozenset({"string", "enum"}), "string"),
    "length": (frozenset({"string", "enum"}), "int"),
}
# Values every flow can use without declaring them.
RUN_FIELDS = {"run.id": "string", "run.ds": "date", "run.logical_date": "timestamp",
              "run.start": "timestamp", "run.flow": "string"}
# `trigger.FIELD`: a field of the payload of the signal event that started the run.
TRIGGER = "trigger"
METRIC = "float"  # a bare name in a gate or an emits payload: one of the step's metrics, a number

Lookup = Callable[[ir.Expr], "str | None"]


def an(t: str | None) -> str:
    """`an int`, `a string`: a type named in a message."""
    return f"an {t}" if t and t[0] in "aeiou" else f"a {t}"


def _operand(e: ir.Expr, t: str | None) -> str:
    """`a date (`ds`)`: a compared operand's type, and its name when it is one (a field of a
    signal, a column, a parameter), so the message says which value is of the wrong kind."""
    return f"{an(t)} (`{e.name}`)" if e.op == "ref" and e.name else an(t)


def type_name(t: ir.TypeSpec) -> str | None:
    """The type of a value declared as `t` (a parameter, a column, a signal field), as
    expressions see it: `list`, or the name with sized numbers as their family; None for a
    name the language does not have (E0312 reports it)."""
    if t.element is not None:
        return "list"
    name = SIZED.get(t.name, t.name)
    return name if name in _KNOWN else None


def comparable(a: str | None, b: str | None) -> bool:
    """Whether `a == b` (or `<`, ...) means something; an unknown side always does."""
    if a is None or b is None or a == b:
        return True
    if a in NUMBERS and b in NUMBERS:
        return True
    return (a in TEXTS and b in TEXTS and "string" in (a, b)) or {a, b} == {"date", "timestamp"}


def assignable(want: ir.TypeSpec, got: str | None) -> bool:
    """Whether a value of type `got` fits a field or parameter declared `want`."""
    w = type_name(want)
    if w is None or got is None or got == w:
        return True
    if w == "float" and got == "int":
        return True
    if w in ("date", "timestamp", "enum") and got == "string":
        return True
    return w == "string" and got in ("date", "timestamp", "enum")


def flow_names(flow: ir.Flow, var: str | None = None, var_items: ir.Expr | None = None) -> dict[str, str | None]:
    """The names a flow expression may use, with their types: the flow's parameters, the
    run's fields and a step's `foreach` variable (the element type of its list)."""
    names: dict[str, str | None] = dict(RUN_FIELDS)
    params = {p.name: p for p in flow.params}
    names.update({n: type_name(p.type) for n, p in params.items()})
    if var is not None:
        names[var] = _element(var_items, params) if var_items is not None else None
    return names


def trigger_fields(flow: ir.Flow, signals: Mapping[str, ir.Signal]) -> tuple[dict[str, str | None], dict[str, tuple[str, str]]]:
    """What `trigger.FIELD` may read in `flow`: ({"trigger.F": type}, {F: (code, why not)}).

    A field is readable when every signal of the flow's trigger declares it, with one type (a
    run may be started by any of them); the others are listed with why they are not (E0202: a
    signal lacks it, E0303: the signals disagree on its type). A run started by the schedule,
    by hand or by `on_finish` has no payload: the fields are then null."""
    keys = [] if flow.trigger is None else list(dict.fromkeys(
        t.target.target for t in flow.trigger.leaves() if t.kind == "signal" and t.target and t.target.target))
    decls = [signals[k] for k in keys if k in signals]
    if not decls:
        return {}, {}
    types: dict[str, dict[str, str]] = {}   # field -> {signal name: type text}
    for d in decls:
        for f in d.fields:
            types.setdefault(f.name, {})[d.name] = type_text(f.type)
    readable: dict[str, str | None] = {}
    why: dict[str, tuple[str, str]] = {}
    for name, by_signal in types.items():
        if len(by_signal) < len(decls):
            lacking = [d.name for d in decls if d.name not in by_signal]
            why[name] = ("E0202", "signal " + ", ".join(f"`{n}`" for n in lacking) + " of the trigger "
                         + ("has" if len(lacking) == 1 else "have") + f" no field `{name}`")
        elif len(set(by_signal.values())) > 1:
            why[name] = ("E0303", "the signals of the trigger disagree on its type: "
                         + ", ".join(f"{t} in `{n}`" for n, t in by_signal.items()))
        else:
            spec = next(f.type for f in decls[0].fields if f.name == name)
            readable[f"{TRIGGER}.{name}"] = type_name(spec)
    return readable, why


def type_text(t: ir.TypeSpec) -> str:
    """A declared type as it is written: `[string]`, `enum(a, b)`, `struct(n: string)`, `int?`."""
    if t.element is not None:
        inner = f"[{type_text(t.element)}]"
    elif t.fields:
        inner = f"{t.name}({', '.join(f'{f.name}: {type_text(f.type)}' for f in t.fields)})"
    else:
        inner = t.name + (f"({', '.join(t.args)})" if t.args else "")
    return inner + ("?" if t.nullable else "")


def _element(items: ir.Expr, params: dict[str, ir.Param]) -> str | None:
    if items.op == "ref" and items.name in params:
        element = params[items.name].type.element
        return element.name if element is not None else None
    if items.op == "list":
        kinds = {LITERAL_TYPES.get(a.kind or "") if a.op == "lit" else None for a in items.args}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def names_lookup(names: Mapping[str, str | None], metrics: bool = False) -> Lookup:
    """A lookup from a table of names; with `metrics`, any other bare name is a metric (a number)."""
    def lookup(e: ir.Expr) -> str | None:
        name = e.name or ""
        if name in names:
            return names[name]
        return METRIC if metrics and "." not in name else None
    return lookup


def _span(first: ir.Loc | None, last: ir.Loc | None) -> ir.Loc | None:
    if first is None or last is None:
        return first or last
    return ir.Loc(first.file, first.line, first.col, last.end_line, last.end_col)


class Inferrer:
    """Types expressions; with `report`, every operator whose operands do not fit is an E0303
    (and, with `calls`, a function the language does not define is an E0311)."""

    def __init__(self, lookup: Lookup, report: Callable[[Diagnostic], None] | None = None,
                 calls: bool = False) -> None:
        self.lookup = lookup
        self.report = report
        # report a call of a function the language does not define (E0311): in a feature group's
        # expressions, which the SQL engines and the feature store compute; a flow expression
        # calls no function at all (the Airflow target says so, E1004)
        self.calls = calls

    def type_of(self, e: ir.Expr) -> str | None:
        op = e.op
        if op == "lit":
            return LITERAL_TYPES.get(e.kind or "")
        if op == "ref":
            return self.lookup(e)
        if op == "binop":
            return self._binop(e)
        if op == "unop":
            return self._unop(e)
        if op == "list":
            for a in e.args:
                self.type_of(a)
            return "list"
        if op == "call":
            return self._call(e)
        if op == "arg":
            return self.type_of(e.args[0])
        return None  # star, range, secret

    # ---------------------------------------------------------------- operators
    def _binop(self, e: ir.Expr) -> str | None:
        op = e.name or ""
        args = e.args
        if op in COMPARISONS or op == "in":
            left, right = args
            lt, rt = self.type_of(left), self.type_of(right)
            if op == "in":
                if rt is not None and rt != "list":
                    self._mismatch(right.loc or e.loc, f"`in` needs a list on its right; here it has {an(rt)}",
                                   "write `x in [a, b]`")
                elif right.op == "list":
                    for item in right.args:
                        it = self.type_of(item) if item.op != "list" else "list"
                        if not comparable(lt, it):
                            self._mismatch(_span(left.loc, item.loc), f"`in` looks for {an(lt)} among "
                                           f"values that include {an(it)}", None)
                            break
            elif not comparable(lt, rt):
                self._mismatch(e.loc, f"`{op}` compares {_operand(left, lt)} with {_operand(right, rt)}",
                               "compare values of one kind: numbers, strings, booleans or durations")
            return "bool"
        result = self.type_of(args[0])
        for i, arg in enumerate(args[1:], 1):
            t = self.type_of(arg)
            if op in ("and", "or"):
                self._want_bool(op, args[0] if i == 1 else None, result)
                self._want_bool(op, arg, t)
                result = "bool"
                continue
            result = self._arith(op, result, t, _span(args[0].loc, arg.loc) if len(args) > 2 else e.loc)
        return result

    def _arith(self, op: str, a: str | None, b: str | None, loc: ir.Loc | None) -> str | None:
        if a is None or b is None:
            return None
        if a in NUMBERS and b in NUMBERS:
            return "float" if op == "/" or "float" in (a, b) else "int"
        if op == "+" and a == b and a in ("string", "duration"):
            return a
        if op == "-" and a == b == "duration":
            return "duration"
        if op in ("*", "/") and a == "duration" and b in NUMBERS:
            return "duration"
        if op == "*" and a in NUMBERS and b == "duration":
            return "duration"
        if op == "/" and a == b == "duration":
            return "float"
        what = {"+": "adds numbers or durations, or joins strings", "-": "subtracts numbers or durations",
                "*": "multiplies numbers (or a duration by a number)",
                "/": "divides numbers (or a duration by a number)"}.get(op, "works on numbers")
        self._mismatch(loc, f"`{op}` {what}; here it has {an(a)} and {an(b)}", None)
        return None

    def _want_bool(self, op: str, node: ir.Expr | None, t: str | None) -> None:
        if node is not None and t is not None and t != "bool":
            self._mismatch(node.loc, f"`{op}` takes booleans; here it has {an(t)}",
                           "compare it to make a condition, as in `x > 0`")

    def _unop(self, e: ir.Expr) -> str | None:
        t = self.type_of(e.args[0])
        if e.name == "not":
            self._want_bool("not", e.args[0], t)
            return "bool"
        if t is None or t in NUMBERS or t == "duration":
            return t
        self._mismatch(e.loc, f"`-` works on numbers and durations; here it has {an(t)}", None)
        return None

    def _call(self, e: ir.Expr) -> str | None:
        types = [self.type_of(a) for a in e.args]
        fn = FUNCTIONS.get(e.name or "")
        if fn is None:
            if self.report is not None and self.calls:
                self.report(error(
                    "E0311", f"unknown function `{e.name}`", e.loc, help=did_you_mean(e.name or "", FUNCTIONS),
                    notes=("functions every backend computes alike: " + ", ".join(sorted(FUNCTIONS)),)))
            return None
        accepts, result = fn
        if accepts is not None:
            for a, t in zip(e.args, types):
                if t is not None and t not in accepts:
                    self._mismatch(a.loc or e.loc, f"`{e.name}` takes {' or '.join(sorted(accepts))}; "
                                                   f"here it has {an(t)}", None)
        if result != "arg":
            return result
        return types[0] if types else None

    def _mismatch(self, loc: ir.Loc | None, message: str, help: str | None) -> None:
        if self.report is not None:
            self.report(error("E0303", message, loc, help=help))


def misfit(want: ir.TypeSpec, e: ir.Expr, got: str | None) -> str | None:
    """None when a value `e` of type `got` fits a field or parameter declared `want`;
    otherwise what the value is, for a message (`int`, `"x" (not one of a, b)`)."""
    if not assignable(want, got):
        return got
    if want.name == "enum" and e.op == "lit" and e.kind == "string" and e.value not in want.args:
        return f"\"{e.value}\" (not one of {', '.join(want.args)})"
    return None


def walk(e: ir.Expr) -> Iterable[ir.Expr]:
    """Every node of an expression, without recursion (parents before children)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.args))
