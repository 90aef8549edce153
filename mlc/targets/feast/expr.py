"""Expressions of request-time feature groups as pandas code, for Feast's on-demand views.

The same expression IR the Spark and Flink jobs compute as SQL (`mlc.targets.sql`), with
the same meaning, so a request-time feature has one value everywhere:

- `/` is a float division, missing (NaN) when the divisor is 0 (SQL: NULL);
- `+ - *` of two ints are ints, of an int and a float floats;
- `==` and the other comparisons, `and`, `or`, `not`, `in [...]` give booleans; an enum
  member (`device == tv`) is its name as a string, as in SQL;
- `abs floor ceil lower upper length coalesce` as the SQL functions of the same names;
- a missing operand makes a missing result for arithmetic (SQL's NULL); a comparison with
  a missing operand is false (SQL: NULL, which a filter reads as false).

Each operand is a pandas Series over the view's input rows (`inputs[...]`), or a constant;
`pd.Series(x, index=inputs.index, dtype=...)` makes either a Series of one type, so the
code never depends on which one it got. Values enter the code only through `py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.compiler import ir
from mlc.compiler.infer import Inferrer
from mlc.targets import sql as S
from mlc.targets.literals import py


@dataclass
class Scope:
    """What a request-time group's expressions may read: each ref, by the target
    `mlc.compiler.references` resolved it to (`request:SOURCE.field`, `feature:GROUP.f`) ->
    the column of Feast's input frame; a ref's type is its own (`ir.Expr.type`). An enum
    member written bare is a ref resolved to `enum:MEMBER`."""

    columns: dict[str, str]
    where: str = ""

    def column(self, e: ir.Expr) -> str | None:
        """The input column a ref reads (None: none of this view's inputs)."""
        return self.columns.get(e.target or "") if e.op == "ref" else None

    def type_of(self, e: ir.Expr) -> str | None:
        return Inferrer(self._lookup).type_of(e)

    def _lookup(self, e: ir.Expr) -> str | None:
        return e.type if e.target in self.columns or S.is_enum(e) else None


# mlc function -> pandas code of a Series `x` (the first argument)
_FUNCTIONS = {
    "abs": "{0}.abs()",
    "floor": "np.floor({0})",
    "ceil": "np.ceil({0})",
    "lower": "{0}.str.lower()",
    "upper": "{0}.str.upper()",
    "length": "{0}.str.len()",
}
_COMPARE = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_ARITH = {"+": "+", "-": "-", "*": "*"}
# the dtype a Series of a column type is held in
_DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "string": "object", "enum": "object"}


class Pandas:
    """Pandas code of an expression; `PlanError` (with where) for what it cannot compute."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.uses_numpy = False

    def reads_column(self, e: ir.Expr) -> bool:
        """Whether `e` reads a column (then its code is a Series; else a constant)."""
        return self.scope.column(e) is not None or any(self.reads_column(a) for a in e.args)

    def series(self, e: ir.Expr, dtype: str | None = None) -> str:
        """The code of `e` as a Series (of `dtype` when given)."""
        code = self.code(e)
        if self.reads_column(e):
            return code if dtype is None else f"{code}.astype({py(dtype)})"
        kind = f", dtype={py(dtype)}" if dtype else ""
        return f"pd.Series({code}, index=inputs.index{kind})"

    def code(self, e: ir.Expr) -> str:
        method = getattr(self, f"_{e.op}", None)
        if method is None:
            raise S.PlanError(f"`{e.op}` cannot be computed by an on-demand view{self.scope.where}", e.loc)
        return method(e)

    def _lit(self, e: ir.Expr) -> str:
        kind, value = e.kind, e.value
        if kind == "string":
            return py(str(value))
        if kind == "bool":
            return py(bool(value))
        if kind in ("int", "duration", "size"):
            return py(int(value))
        if kind in ("float", "percent"):
            return py(float(value) / (100 if kind == "percent" else 1))
        raise S.PlanError(f"a {kind} literal cannot be used here{self.scope.where}", e.loc)

    def _ref(self, e: ir.Expr) -> str:
        name = e.name or ""
        column = self.scope.column(e)
        if column is not None:
            return f"inputs[{py(column)}]"
        if S.is_enum(e):
            return py(name)
        raise S.PlanError(f"`{name}` is not a request field or a feature of a stored group{self.scope.where}",
                          e.loc)

    def _binop(self, e: ir.Expr) -> str:
        name = e.name or ""
        if name == "/":
            # float division, NaN (SQL: NULL) when the divisor is 0, left to right
            code = self.series(e.args[0], "float64")
            for divisor in e.args[1:]:
                if divisor.op == "lit" and divisor.kind in ("int", "float") and float(divisor.value) != 0:
                    code = f"({code} / {py(float(divisor.value))})"  # a constant that is not 0
                    continue
                d = self.series(divisor, "float64")
                code = f"({code} / {d}.where({d} != 0))"
            return code
        if name in ("and", "or"):
            op = " & " if name == "and" else " | "
            return "(" + op.join(self.series(a, "bool") for a in e.args) + ")"
        if name in _COMPARE:
            left, right = e.args[0], e.args[-1]
            return f"{self.series(left)}.{_COMPARE[name]}({self.code(right)})"
        if name == "in":
            left, right = e.args[0], e.args[-1]
            if right.op != "list":
                raise S.PlanError("`in` needs a list on its right: `x in [a, b]`", e.loc)
            items = "[" + ", ".join(self.code(a) for a in right.args) + "]"
            return f"{self.series(left)}.isin({items})"
        if name in _ARITH:
            if name == "+" and self.scope.type_of(e) == "string":
                return "(" + " + ".join(self.series(a, "object") for a in e.args) + ")"
            if self.reads_column(e):  # a Series with constants: pandas broadcasts them
                return "(" + f" {_ARITH[name]} ".join(self.code(a) for a in e.args) + ")"
            return "(" + f" {_ARITH[name]} ".join(self.series(a) for a in e.args) + ")"
        raise S.PlanError(f"operator `{name}` cannot be computed by an on-demand view", e.loc)

    def _unop(self, e: ir.Expr) -> str:
        inner = self.series(e.args[0])
        return f"(~{inner}.astype(bool))" if e.name == "not" else f"(-{inner})"

    def _call(self, e: ir.Expr) -> str:
        name = e.name or ""
        if any(a.op == "arg" for a in e.args):
            raise S.PlanError(f"`{name}` takes positional arguments only", e.loc)
        if name == "coalesce":
            if not e.args:
                raise S.PlanError("`coalesce` needs an argument", e.loc)
            code = self.series(e.args[0])
            for a in e.args[1:]:
                code = f"{code}.fillna({self.series(a)})"
            return code
        template = _FUNCTIONS.get(name)
        if template is None or len(e.args) != 1:
            raise S.PlanError(f"function `{name}` is not known to the Feast target", e.loc,
                              help="functions: " + ", ".join(sorted([*_FUNCTIONS, "coalesce"])))
        if name in ("floor", "ceil"):
            self.uses_numpy = True
        return template.format(self.series(e.args[0]))


def output(e: ir.Expr, scope: Scope, t: str) -> tuple[str, bool]:
    """(the pandas code of a feature `e` held as column type `t`, whether it needs numpy as `np`)."""
    lowering = Pandas(scope)
    dtype = _DTYPES.get(t)
    # an int feature computed from ints stays int; a missing value makes it float (NaN)
    code = lowering.series(e, None if t == "int" or dtype == "object" else dtype)
    return code, lowering.uses_numpy
