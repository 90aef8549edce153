"""`mlc fmt`: prints a .flow syntax tree back as text, in one canonical layout.

The layout (docs/cli.md, section "mlc fmt", tells users the same):

* Two spaces of indentation per block level; lines end without spaces; the file
  ends with one newline; line endings are `\\n`.
* Declarations: `package` and the `import`s after it form one group with no blank
  lines; one blank line follows that group and separates every other pair of
  declarations. Exception: consecutive declarations of the same kind that each
  fit on one line (`entity a { key id: string }`, `slo x = t(...)`,
  `signal s { v: string }`) and were written with no blank line between them
  stay together, aligned.
* Inside a block: one item per line. A blank line written between two items is
  kept (several become one); blank lines after `{` and before `}` are dropped.
  Items are never reordered.
* Blocks that may stay on one line: the bodies of `entity`, `signal`, `slo` and
  `step`, and the nested blocks and lists `schema`, `request`, `serve`,
  `resources`, step `env`, connector `env`/`source`, `key (...)`, `kinds [...]`,
  `inputs [...]` and `tags [...]`. Such a block is printed on one line —
  `{ a, b }`, `[a, b]`, `(a, b)` — when it holds no comment and that line fits
  in the line width (100 columns unless `mlc fmt --width N` or `[fmt] width` in
  mlc.toml says otherwise; indentation included, any trailing comment not counted);
  otherwise one item per line, with a trailing comma after every item of a
  `[...]` or `(...)` list. The bodies of `env`, `connector`, `source`,
  `features`, `model` and `flow` always take one item per line. An empty block
  is `{}`; an empty optional body (`source`, `signal`, `step`) is left out; an
  empty `tags []`, `tags {}` or `schema {}` stays as written.
* A line still longer than the width breaks at the call that ends its head
  (env binding, connector, step action, `offline`, `logging`, slo template,
  derived feature): one argument per line with a trailing comma, `)` on its own
  line. A derived feature that is an operator chain goes inside parentheses
  (which the parser drops), one operand per line, broken before each operator.
* Spacing: `name: type`, `a = b`, `a >> b`, `x == y`, `a + b`, `f(a, b)`,
  `f(name = value)`, `[a, b]`, `{ a, b }`, `0.0..1.0`, `-x`, `not x`.
  Expressions get the fewest parentheses that keep their parse (precedence,
  loosest first: `or`, `and`, `not`, comparisons and `in`, `+ -`, `* /`,
  unary `-`); trigger expressions likewise (`or` < `and`).
* Alignment (as gofmt): in a run of consecutive one-line items of the same kind
  at the same level — only own-line comments may sit between them — the columns
  line up: the `=` of env bindings, derived features and step `env` entries;
  the type after `name:` in schemas, requests, signal payloads, keys, feature
  columns and connector parameters; the value of `serve`/`resources` settings;
  the action and the `{` of one-line steps; and the `{` or `=` of one-line
  `entity`/`signal`/`slo` declarations. Trailing comments on consecutive lines
  start in one column, two spaces after the longest code.
* Literals (strings, numbers, durations, sizes, percentages) are printed as
  written (`Literal.text`), so nothing changes meaning.
* Comments are never lost or duplicated, and stay between the same items: `#`/`##` comments on their own line stay before the item that
  follows them (so a `##` doc comment stays right above its declaration or
  step), a comment at the end of an item's last line stays at the end of that
  item's line (after `}` when the item spans lines), a comment after an
  opening `{` stays there, and comments before a closing `}` stay before it.
  A comment inside an item that has no block of its own (say, between the
  arguments of a call) moves to its own line before that item, above the
  item's other comments (so a doc comment stays right above its item).

`format_text` refuses (returns None) a file with any error diagnostic: a
syntax error, or a clause written twice, would otherwise lose text.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A

INDENT = "  "
MAX_WIDTH = 100

Pos = tuple[int, int]

_HEADER = ("package", "import")
# Clauses the AST stores as an empty tuple when written empty: `meta.clauses` still records them.
_KEPT_EMPTY = ("tags", "tag_values", "schema")


# ---------------------------------------------------------------- entry points


def format_text(text: str, path: str = "<input>", width: int = MAX_WIDTH) -> tuple[str | None, list[Diagnostic]]:
    """The formatted text of one file, or None (with the reasons) when it has errors.

    `width`: the longest line a one-line block may make (a longer token just overflows)."""
    from mlc.dsl.parser import parse_text

    module, diagnostics = parse_text(text, path)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    return format_module(module, text, width), diagnostics


def format_module(module: A.Module, source_text: str = "", width: int = MAX_WIDTH) -> str:
    """The canonical text of a module.

    `source_text` is the text the module was parsed from: it places the comments
    of `module.comments` and keeps the blank lines written between items. For a
    module built in code (no source text), pass "": every declaration is then
    separated by one blank line.
    """
    return _Formatter(module, source_text, width).run()


def project_width(config: dict) -> int:
    """The width `[fmt] width = N` of a project's mlc.toml sets (the default when unset).

    Raises ValueError for anything but a whole number of at least 1."""
    section = config.get("fmt", {})
    width = section.get("width", MAX_WIDTH) if isinstance(section, dict) else section
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"mlc.toml: [fmt] width must be a whole number of columns, at least 1; got {width!r}")
    return width


# ---------------------------------------------------------------- expressions and small pieces

_BIN_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4,
             "+": 5, "-": 5, "*": 6, "/": 6}
_ATOM = 8


def _prec(e) -> int:
    if isinstance(e, A.BinOp):
        return _BIN_PREC.get(e.op, 4)
    if isinstance(e, A.UnaryOp):
        return 3 if e.op == "not" else 7
    return _ATOM


def expr_text(e, min_prec: int = 0) -> str:
    """An expression or a value, with the fewest parentheses that keep its parse."""
    s = _expr(e)
    return f"({s})" if _prec(e) < min_prec else s


def _expr(e) -> str:
    if isinstance(e, A.Literal):
        return e.text
    if isinstance(e, A.Ref):
        return e.dotted
    if isinstance(e, A.Star):
        return "*"
    if isinstance(e, A.Range):
        return f"{e.low.text}..{e.high.text}"
    if isinstance(e, A.ListExpr):
        return "[" + ", ".join(expr_text(i) for i in e.items) + "]"
    if isinstance(e, A.Call):
        return call_text(e)
    if isinstance(e, A.BinOp):
        p = _prec(e)
        if p == 4:  # comparisons do not chain: both sides are sums
            left_min = right_min = 5
        else:  # left-associative
            left_min, right_min = p, p + 1
        rest = "".join(f" {e.op} {expr_text(o, right_min)}" for o in e.operands[1:])
        return expr_text(e.operands[0], left_min) + rest
    if isinstance(e, A.UnaryOp):
        if e.op == "not":
            return "not " + expr_text(e.operand, 3)
        operand = expr_text(e.operand, 7)
        return ("- " if operand.startswith("-") else "-") + operand
    if isinstance(e, A.Name):
        return e.value
    raise TypeError(f"cannot format {type(e).__name__}")


def arg_text(a: A.Arg) -> str:
    if a.name is None:
        return expr_text(a.value)
    return f"{a.name.value} = {expr_text(a.value)}"


def call_text(c: A.Call) -> str:
    return f"{c.func.dotted}(" + ", ".join(arg_text(a) for a in c.args) + ")"


def type_text(t: A.TypeRef) -> str:
    if t.element is not None:
        s = f"[{type_text(t.element)}]"
    elif t.fields:
        s = t.name + "(" + ", ".join(field_text(f) for f in t.fields) + ")"
    else:
        s = t.name + (f"({', '.join(t.args)})" if t.args else "")
    return s + ("?" if t.nullable else "")


def field_text(f: A.Field) -> str:
    """`name: type ["description"]`."""
    return f"{f.name.value}: {type_text(f.type)}" + (f" {f.description.text}" if f.description else "")


def schedule_text(s: A.Schedule) -> str:
    if s.kind == "cron":
        return f"cron({s.value.text})"
    if s.kind == "interval":
        return f"every {s.value.text}"
    return s.value.value if isinstance(s.value, A.Name) else str(s.value.text)


def trigger_text(t) -> str:
    if isinstance(t, A.OnFinish):
        return f"on_finish({t.flow.value})"
    if isinstance(t, A.OnSignal):
        # match pairs and comparisons in the order written
        parts = sorted([*t.match, *t.conditions], key=lambda x: (x.span.line, x.span.col))
        return "signal(" + ", ".join([t.signal.value] + [arg_text(a) if isinstance(a, A.Arg) else expr_text(a)
                                                         for a in parts]) + ")"
    if isinstance(t, A.TriggerAll):
        return " and ".join(f"({trigger_text(i)})" if isinstance(i, (A.TriggerAll, A.TriggerAny))
                            else trigger_text(i) for i in t.items)
    if isinstance(t, A.TriggerAny):
        return " or ".join(f"({trigger_text(i)})" if isinstance(i, A.TriggerAny)
                           else trigger_text(i) for i in t.items)
    raise TypeError(f"cannot format trigger {type(t).__name__}")


# ---------------------------------------------------------------- the layout tree


@dataclass(frozen=True)
class _Wrap:
    """How the last head cell of an item breaks when its line is too long: `open`, then
    each of `parts` on its own line (one level deeper, followed by `sep`), then `close`."""

    open: str
    parts: list[str]
    close: str
    sep: str


def _call_wrap(prefix: str, c: A.Call, suffix: str = "") -> _Wrap | None:
    """A call's arguments one per line, each with a comma (the grammar takes a trailing one)."""
    if not c.args:
        return None
    return _Wrap(f"{prefix}{c.func.dotted}(", [arg_text(a) for a in c.args], ")" + suffix, ",")


def _expr_wrap(prefix: str, e, suffix: str = "") -> _Wrap | None:
    """A call's arguments, or a chain of binary operators inside parentheses, broken before
    each operator (the parentheses change nothing: the parser drops them)."""
    if isinstance(e, A.Call):
        return _call_wrap(prefix, e, suffix)
    if not isinstance(e, A.BinOp):
        return None
    return _Wrap(prefix + "(", _chain(e), ")" + suffix, "")


def _chain(e: A.BinOp) -> list[str]:
    """The lines of an operator chain: `a + b - c` (parsed `(a + b) - c`) is `a`, `+ b`, `- c`."""
    p = _prec(e)
    left_min, right_min = (5, 5) if p == 4 else (p, p + 1)
    first = e.operands[0]
    head = _chain(first) if p != 4 and isinstance(first, A.BinOp) and _prec(first) == p \
        else [expr_text(first, left_min)]
    return head + [f"{e.op} {expr_text(o, right_min)}" for o in e.operands[1:]]


@dataclass(eq=False)
class _Block:
    """A `{ }`, `[ ]` or `( )` with items. `compact`: may be printed on one line."""

    delim: str  # "{", "[" or "("
    items: list["_Item"]
    compact: bool
    open_pos: Pos | None = None
    close_pos: Pos | None = None
    optional: bool = False  # left out when empty (the body of a source, signal or step)
    open_comment: A.Comment | None = None
    end: list[tuple[A.Comment, bool]] = field(default_factory=list)  # before the closing delimiter
    incoming: list[A.Comment] = field(default_factory=list)

    @property
    def close(self) -> str:
        return {"{": "}", "[": "]", "(": ")"}[self.delim]

    def has_comments(self) -> bool:
        if self.open_comment is not None or self.end:
            return True
        for it in self.items:
            if it.leading or it.inner or it.trailing is not None:
                return True
            if it.block is not None and it.block.has_comments():
                return True
        return False

    def shown(self) -> bool:
        return not self.optional or bool(self.items) or self.has_comments()


@dataclass(eq=False)
class _Item:
    """One line's worth of source (or a header followed by a block).

    `cells` are the parts of the head that line up with the items around it."""

    cells: list[str]
    block: _Block | None = None
    start: Pos | None = None
    end: Pos | None = None
    align: str | None = None
    kind: str = ""
    doc_target: bool = False
    leading: list[tuple[A.Comment, bool]] = field(default_factory=list)  # own-line comments before
    inner: list[A.Comment] = field(default_factory=list)  # comments from inside the item's text
    trailing: A.Comment | None = None
    blank_before: bool = False
    blank_after_leading: bool = False
    wrap: _Wrap | None = None  # how the last cell breaks when the line is too long


@dataclass(eq=False)
class _Line:
    indent: int
    cells: list[str] | None = None  # code; None for a comment line or a blank line
    comment: str | None = None  # trailing comment, or the text of a comment line
    align: str | None = None

    @property
    def blank(self) -> bool:
        return self.cells is None and self.comment is None

    @property
    def is_comment(self) -> bool:
        return self.cells is None and self.comment is not None


def _is_doc(c: A.Comment | None) -> bool:
    return c is not None and c.text.startswith("##")


def _pos(span: Span | None) -> Pos | None:
    if span is None or span.line <= 0:
        return None
    return (span.line, span.col)


def _end(span: Span | None) -> Pos | None:
    if span is None or span.line <= 0:
        return None
    return (span.end_line, span.end_col)


class _Formatter:
    def __init__(self, module: A.Module, text: str, width: int = MAX_WIDTH) -> None:
        self.module = module
        self.width = width
        self.text = text
        self.has_source = bool(text.strip())
        self.comments = sorted(module.comments, key=lambda c: (c.span.line, c.span.col)) if self.has_source else []
        lines = text.split("\n")
        self.lines = lines
        self.line_starts = [0]
        for ln in lines[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(ln) + 1)
        blank_upto = [0]
        for ln in lines:
            blank_upto.append(blank_upto[-1] + (1 if not ln.strip() else 0))
        self.blank_upto = blank_upto

    # ------------------------------------------------------------ source helpers
    def _offset(self, p: Pos) -> int:
        line, col = p
        if line - 1 >= len(self.line_starts):
            return len(self.text)
        return min(self.line_starts[line - 1] + col - 1, len(self.text))

    def _pos_of(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset)
        return (line, offset - self.line_starts[line - 1] + 1)

    def _find(self, start: Pos | None, end: Pos | None, ch: str) -> Pos | None:
        """The first `ch` between two positions, outside comments and strings."""
        if not self.comments or start is None or end is None:
            return None
        i, j, text = self._offset(start), self._offset(end), self.text
        while i < j:
            c = text[i]
            if c == "#":
                nl = text.find("\n", i)
                i = len(text) if nl < 0 else nl
                continue
            if c == '"':
                i += 1
                while i < j and text[i] not in '"\n':
                    i += 2 if text[i] == "\\" else 1
            elif c == ch:
                return self._pos_of(i)
            i += 1
        return None

    def _blank_between(self, a: int, b: int) -> bool:
        """Whether a blank line lies strictly between lines a and b."""
        if not self.has_source or b - 1 <= a:
            return False
        hi = min(b - 1, len(self.blank_upto) - 1)
        lo = min(max(a, 0), len(self.blank_upto) - 1)
        return self.blank_upto[hi] - self.blank_upto[lo] > 0

    def _only_separators(self, a: Pos, b: Pos) -> bool:
        """Whether only spaces and commas lie between two positions."""
        between = self.text[self._offset(a): self._offset(b)]
        return not between.replace(",", "").strip()

    def _own_line(self, c: A.Comment) -> bool:
        line = self.lines[c.span.line - 1] if 0 < c.span.line <= len(self.lines) else ""
        return not line[: c.span.col - 1].strip()

    # ------------------------------------------------------------ building the tree
    def _block(self, delim: str, items: list[_Item], compact: bool, span: Span | None,
               search_from: Pos | None = None, optional: bool = False) -> _Block:
        start = search_from if search_from is not None else _pos(span)
        end = _end(span)
        open_pos = self._find(start, end, delim)
        close_pos = (end[0], end[1] - 1) if open_pos is not None and end is not None else None
        return _Block(delim, items, compact, open_pos, close_pos, optional)

    def _ordered(self, meta: A.Meta | None, entries: list[tuple[str, object]]) -> list[tuple[str, object, Span | None]]:
        """The entries of a block in source order (from `meta.clauses`), unmatched ones last."""
        pools: dict[str, list[int]] = {}
        for i, (k, _v) in enumerate(entries):
            pools.setdefault(k, []).append(i)
        taken: dict[str, int] = {}
        used: set[int] = set()
        out: list[tuple[str, object, Span | None]] = []
        for k, span in (meta.clauses if meta is not None else ()):
            pool, n = pools.get(k, ()), taken.get(k, 0)
            if n < len(pool):
                taken[k] = n + 1
                used.add(pool[n])
                out.append((k, entries[pool[n]][1], span))
            elif k in _KEPT_EMPTY and not pool:  # written empty (`tags []`, `schema {}`): kept as written
                out.append((k, (), span))
        for i, (k, v) in enumerate(entries):
            if i not in used:
                out.append((k, v, getattr(v, "span", None)))
        return out

    @staticmethod
    def _meta_entries(m: A.Meta) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        if m.owner is not None:
            out.append(("owner", m.owner))
        if m.tags:
            out.append(("tags", m.tags))
        if m.tag_values:
            out.append(("tag_values", m.tag_values))
        if m.description is not None:
            out.append(("description", m.description))
        return out

    def _items(self, meta: A.Meta | None, entries: list[tuple[str, object]]) -> list[_Item]:
        return [self._clause(k, v, span) for k, v, span in self._ordered(meta, entries)]

    def _simple_list(self, head: str, delim: str, values, span: Span | None, text) -> _Item:
        items = [_Item([text(v)], start=_pos(getattr(v, "span", None)), end=_end(getattr(v, "span", None)))
                 for v in values]
        return _Item([head], self._block(delim, items, True, span), _pos(span), _end(span))

    def _field_items(self, fields, align: str = "field") -> list[_Item]:
        return [_Item([f"{f.name.value}:", type_text(f.type) + (f" {f.description.text}" if f.description else "")],
                      start=_pos(f.span), end=_end(f.span), align=align)
                for f in fields]

    def _fields_block(self, head: str, delim: str, fields, span: Span | None) -> _Item:
        return _Item([head], self._block(delim, self._field_items(fields), True, span), _pos(span), _end(span))

    def _settings_block(self, head: str, settings, span: Span | None) -> _Item:
        items = [_Item([s.name.value, expr_text(s.value)], start=_pos(s.span), end=_end(s.span), align="setting")
                 for s in settings]
        return _Item([head], self._block("{", items, True, span), _pos(span), _end(span))

    def _clause(self, key: str, v, span: Span | None) -> _Item:  # noqa: C901 - one case per clause
        def flat(*cells: str, align: str | None = None) -> _Item:
            return _Item(list(cells), start=_pos(span), end=_end(span), align=align)

        if key == "owner":
            return flat(f"owner {v.text}")
        if key == "description":
            return flat(f"description {v.text}")
        if key == "tags":
            return self._simple_list("tags", "[", v, span, lambda t: t.text)
        if key == "tag_values":
            return self._simple_list("tags", "{", v, span, lambda kv: f"{kv[0].text} = {kv[1].text}")
        if key in ("feature_store", "on_demand", "label_view"):
            return self._settings_block(key, v, span)
        # env, connector
        if key == "binding":
            it = flat(v.name.value, "= " + call_text(v.call), align="binding")
            it.wrap = _call_wrap("= ", v.call)
            return it
        if key == "kinds":
            return self._simple_list("kinds", "[", v, span, lambda n: n.value)
        if key in ("env", "source") and v and isinstance(v[0], A.ParamField):
            items = []
            for p in v:
                rest = type_text(p.type) + (f" = {expr_text(p.default)}" if p.default is not None else "")
                items.append(_Item([f"{p.name.value}:", rest], start=_pos(p.span), end=_end(p.span), align="field"))
            return _Item([key], self._block("{", items, True, span), _pos(span), _end(span))
        if key == "env":  # a step's environment
            items = [_Item([a.name.value if a.name else "", "= " + expr_text(a.value)],
                           start=_pos(a.span), end=_end(a.span), align="kwarg") for a in v]
            return _Item(["env"], self._block("{", items, True, span), _pos(span), _end(span))
        # source
        if key == "schema":
            return self._fields_block("schema", "{", v, span)
        if key in ("event_time", "created_time", "batch", "partition", "reads", "writes"):
            return flat(f"{key} {v.value}")
        if key == "watermark":
            return flat(f"watermark {v.text}")
        if key == "arrives":
            every, delay = v
            return flat(f"arrives every {every.text}" + (f" delay {delay.text}" if delay is not None else ""))
        # entity
        if key == "key":
            return flat(f"key {field_text(v)}")
        if key == "composite_key":
            return self._fields_block("key", "(", v, span)
        # features
        if key == "from":
            return flat(f"from {v.dotted}")
        if key == "column":
            return flat(f"{v.name.value}:", type_text(v.type) + (f" {v.description.text}" if v.description else ""),
                        align="column")
        if key == "request_source":
            return flat(f"request {v.value}")
        if key == "ttl":
            return flat(f"ttl {v.text}")
        if key == "registered":
            return flat("registered")
        if key == "validate":
            return flat("validate")
        if key == "version":
            return flat(f"version {v.text}")
        if key == "derived":
            left = v.name.value + (f": {type_text(v.type)}" if v.type is not None else "") \
                + (f" {v.description.text}" if v.description is not None else "")
            window = ""
            if v.window is not None:
                window = f" over {v.window.size.text}"
                if v.window.every is not None:
                    window += f" every {v.window.every.text}"
            it = flat(left, "= " + expr_text(v.expr) + window, align="derived" if v.type is None else "derived_typed")
            it.wrap = _expr_wrap("= ", v.expr, window)
            return it
        if key == "request":
            return self._fields_block("request", "{", v, span)
        if key == "checkpoint":
            return flat(f"checkpoint every {v.text}")
        if key == "online":
            return flat("online" + ("" if v.enabled else " false") + (f" ttl {v.ttl.text}" if v.ttl is not None else ""))
        if key == "offline":
            it = flat(f"offline {call_text(v)}")
            it.wrap = _call_wrap("offline ", v)
            return it
        if key == "schedule" and isinstance(v, tuple):  # `schedule daily from "2024-01-01"`
            return flat(f"schedule {schedule_text(v[0])} from {v[1].text}")
        if key == "schedule":
            return flat(f"schedule {schedule_text(v)}")
        if key == "timeout":
            return flat(f"timeout {v.text}")
        if key == "freshness":
            return flat(f"freshness {v.op} {expr_text(v.value)}")
        # model
        if key == "framework":
            return flat(f"framework {v.value}")
        if key == "inputs":
            return self._simple_list(
                "inputs", "[", v, span,
                lambda r: f"{r.group.value}." + (r.feature.value if r.feature is not None else "*"))
        if key == "output":
            return flat(f"output {field_text(v)}")
        if key == "service":
            return flat(f"service {v.value}")
        if key == "labels":
            return flat(f"labels {v.group.value}.{v.feature.value if v.feature is not None else '*'}")
        if key == "features":
            return self._simple_list(
                "features", "[", v, span,
                lambda r: f"{r.group.value}." + (r.feature.value if r.feature is not None else "*"))
        if key == "logging":
            sample = f" sample {v.sample.text}" if v.sample else ""
            it = flat(f"logging {call_text(v.destination)}" + sample)
            it.wrap = _call_wrap("logging ", v.destination, sample)
            return it
        if key == "confidence":
            return flat(f"confidence in {expr_text(v)}")
        if key == "fallback":
            return flat(f"fallback {v.model.value}" + (f" when {expr_text(v.when)}" if v.when is not None else ""))
        if key == "serve":
            return self._settings_block("serve", v, span)
        # signal
        if key == "field":
            return flat(f"{v.name.value}:", type_text(v.type) + (f" {v.description.text}" if v.description else ""),
                        align="field")
        # flow
        if key == "trigger" and isinstance(v, tuple):  # `trigger ... match ds`
            keys = [k.value for k in v[1]]
            return flat(f"trigger {trigger_text(v[0])} match " + (keys[0] if len(keys) == 1 else f"[{', '.join(keys)}]"))
        if key == "trigger":
            return flat(f"trigger {trigger_text(v)}")
        if key == "param":
            return flat(f"param {v.name.value}: {type_text(v.type)}"
                        + (f" = {expr_text(v.default)}" if v.default is not None else ""))
        if key == "catchup":
            return flat(f"catchup {v.text}")
        if key in ("start", "end", "uri"):
            return flat(f"{key} {v.text}")
        if key == "defaults":
            spans = dict(v.clauses)
            keys = [k for k, _ in v.clauses] or ["retries", "retry_delay", "timeout", "owner"]
            items = [_Item([k, lit.text], start=_pos(spans.get(k, lit.span)), end=_end(spans.get(k, lit.span)),
                           align="setting") for k in dict.fromkeys(keys) if (lit := getattr(v, k, None)) is not None]
            return _Item(["defaults"], self._block("{", items, True, span), _pos(span), _end(span))
        if key == "step":
            return self._step(v, span)
        if key == "edge":
            hops = [h[0].value if len(h) == 1 else "[" + ", ".join(n.value for n in h) + "]" for h in v.hops]
            return flat(" >> ".join(hops))
        # step and flow: the run policy (issue 19)
        if key == "retries" and isinstance(v, tuple):
            return self._settings_block("retries", v, span)
        if key == "returns":
            return self._fields_block("returns", "{", v, span)
        if key in ("on_failure", "runtime"):
            return flat(f"{key} {v.value}")
        if key == "parallel":
            return flat(f"parallel {v.text}")
        if key == "runs":
            return flat(f"runs {v.mode.value}" + (f" {v.limit.text}" if v.limit is not None else ""))
        if key in ("alert", "setting"):
            return self._settings_block(key, v, span) if key == "alert" else \
                _Item([v.name.value, expr_text(v.value)], start=_pos(span), end=_end(span), align="setting")
        # step
        if key == "retries":
            return flat(f"retries {v.text}")
        if key == "retry_delay":
            return flat(f"retry_delay {v.text}")
        if key == "resources":
            return self._settings_block("resources", v, span)
        if key == "determinism":
            return flat(v.value)
        if key == "produces":
            return flat(f"produces {v.value}")
        if key == "uses":
            return flat(f"uses {v.value}")
        if key == "gate":
            return flat(f"gate {expr_text(v)}")
        if key == "emits":
            payload = "(" + ", ".join(arg_text(a) for a in v.payload) + ")" if v.payload else ""
            return flat(f"emits signal {v.signal.value}{payload}")
        if key == "foreach":
            return flat(f"foreach {v.var.value} in {expr_text(v.items)}")
        if key == "when":
            return flat(f"when {expr_text(v)}")
        # slo
        if key == "objective":
            return flat(self._objective(v))
        raise TypeError(f"cannot format clause `{key}`")

    @staticmethod
    def _objective(o: A.Objective) -> str:
        head = f"{o.kind}({o.target.dotted})"
        if o.kind == "completion" or o.op == "by":
            return f"{head} by {expr_text(o.value)}"
        metric = f" {o.metric.value}" if o.metric is not None else ""
        s = f"{head}{metric} {o.op} {expr_text(o.value)}"
        if o.window is not None:
            s += f" over {expr_text(o.window)}"
        return s

    def _with_doc(self, it: _Item, meta: A.Meta) -> _Item:
        """Without source text there are no comments: the doc comment comes from `meta.doc`."""
        if not self.has_source and meta.doc:
            it.leading = [(A.Comment("## " + ln if ln else "##", Span("", 0, 0, 0, 0)), False)
                          for ln in meta.doc.split("\n")]
        return it

    def _step(self, s: A.Step, span: Span | None) -> _Item:
        entries: list[tuple[str, object]] = []
        if s.foreach is not None:
            entries.append(("foreach", s.foreach))
        if s.when is not None:
            entries.append(("when", s.when))
        if s.determinism is not None:
            entries.append(("determinism", s.determinism))
        if s.produces is not None:
            entries.append(("produces", s.produces))
        entries += [("uses", u) for u in s.uses]
        entries += [("reads", r) for r in s.reads] + [("writes", w) for w in s.writes]
        if s.gate is not None:
            entries.append(("gate", s.gate))
        entries += [("emits", e) for e in s.emits]
        for k, x in (("returns", s.returns), ("retries", s.retry_policy), ("on_failure", s.on_failure),
                     ("runtime", s.runtime), ("parallel", s.parallel)):
            if x is not None:
                entries.append((k, x))
        for k in ("retries", "retry_delay", "timeout"):
            if getattr(s, k) is not None:
                entries.append((k, getattr(s, k)))
        if s.resources:
            entries.append(("resources", s.resources))
        if s.env:
            entries.append(("env", s.env))
        entries += self._meta_entries(s.meta)
        span = span or s.span
        block = self._block("{", self._items(s.meta, entries), True, span,
                            search_from=_end(s.action.span), optional=True)
        return self._with_doc(_Item([f"step {s.name.value}", call_text(s.action)], block, _pos(span), _end(span),
                                    align="step", doc_target=True, wrap=_call_wrap("", s.action)), s.meta)

    def _decl(self, d) -> _Item:  # noqa: C901 - one case per declaration
        m = d.meta
        name = d.name.value
        pos, end = _pos(d.span), _end(d.span)

        def item(cells: list[str], entries, compact: bool, search_from: Pos | None, align: str | None = None,
                 optional: bool = False) -> _Item:
            block = self._block("{", self._items(m, entries), compact, d.span, search_from, optional)
            return _Item(cells, block, pos, end, align=align, kind=d.kind, doc_target=True)

        name_end = _end(d.name.span)
        meta = self._meta_entries(m)
        if isinstance(d, A.PackageDecl):
            return _Item([f"package {name}"], None, pos, end, kind="package", doc_target=True)
        if isinstance(d, A.ImportDecl):
            text = d.module.dotted if d.module is not None else name
            if d.members:
                text += ".{" + ", ".join(n.value for n in d.members) + "}"
            if d.alias is not None:
                text += f" as {d.alias.value}"
            return _Item([f"import {text}"], None, pos, end, kind="import", doc_target=True)
        if isinstance(d, A.EnvDecl):
            store = [("feature_store", d.feature_store)] if d.feature_store is not None else []
            return item([f"env {name}"], [("binding", b) for b in d.bindings] + store + meta, False, name_end)
        if isinstance(d, A.ConnectorDecl):
            entries: list = []
            if d.kinds:
                entries.append(("kinds", d.kinds))
            if d.env_params:
                entries.append(("env", d.env_params))
            if d.source_params:
                entries.append(("source", d.source_params))
            return item([f"connector {name}"], entries + meta, False, name_end)
        if isinstance(d, A.SourceDecl):
            entries = []
            if d.schema:
                entries.append(("schema", d.schema))
            for k in ("batch", "event_time", "created_time"):
                if getattr(d, k) is not None:
                    entries.append((k, getattr(d, k)))
            if d.watermark is not None:
                entries.append(("watermark", d.watermark))
            if d.arrives_every is not None:
                entries.append(("arrives", (d.arrives_every, d.arrives_delay)))
            if d.connector is None:  # push, request
                return item([f"source {name}: {d.source_kind}"], entries + meta, True, name_end, optional=True)
            head = f"source {name}: {d.source_kind} {call_text(d.connector)}"
            it = item([head], entries + meta, False, _end(d.connector.span), optional=True)
            it.wrap = _call_wrap(f"source {name}: {d.source_kind} ", d.connector)
            return it
        if isinstance(d, A.EntityDecl):
            entries = []
            if d.composite:
                entries.append(("composite_key", d.keys))
            elif d.keys:
                entries.append(("key", d.keys[0]))
            return item([f"entity {name}"], entries + meta, True, name_end, align="entity")
        if isinstance(d, A.FeaturesDecl):
            entries = [("from", r) for r in d.sources]
            entries += [("request_source", r) for r in d.request_sources]
            if d.request:
                entries.append(("request", d.request))
            if d.registered is not None:
                entries.append(("registered", d.registered))
            entries += [("column", c) for c in d.columns]
            entries += [("derived", x) for x in d.derived]
            for k in ("checkpoint", "schedule", "timeout", "online", "ttl", "offline", "freshness",
                      "validate", "version", "on_demand", "label_view"):
                if getattr(d, k) is not None:
                    entries.append((k, getattr(d, k)))
            if d.entity is None:
                return item([f"features {name}"], entries + meta, False, _end(d.name.span))
            return item([f"features {name} on {d.entity.value}"], entries + meta, False, _end(d.entity.span))
        if isinstance(d, A.ModelDecl):
            entries = []
            if d.framework is not None:
                entries.append(("framework", d.framework))
            if d.inputs:
                entries.append(("inputs", d.inputs))
            for k in ("output", "confidence", "fallback", "serve", "service", "labels"):
                if getattr(d, k) is not None:
                    entries.append((k, getattr(d, k)))
            det = f" {d.determinism.value}" if d.determinism is not None else ""
            after = _end(d.determinism.span) if d.determinism is not None else name_end
            return item([f"model {name}{det}"], entries + meta, False, after)
        if isinstance(d, A.ServiceDecl):
            entries = [("features", d.features)] if d.features else []
            if d.logging is not None:
                entries.append(("logging", d.logging))
            head = f"service {name}" + (f" for {d.model.value}" if d.model is not None else "")
            after = _end(d.model.span) if d.model is not None else name_end
            return item([head], entries + meta, True, after)
        if isinstance(d, A.SignalDecl):
            ext = " external" if d.external else ""
            entries = [("uri", d.uri)] if d.uri is not None else []
            return item([f"signal {name}{ext}"], entries + [("field", f) for f in d.fields] + meta, True, name_end,
                        align="signal", optional=True)
        if isinstance(d, A.ArtifactDecl):
            entries = [("schema", d.schema)] if d.schema else []
            if d.partition is not None:
                entries.append(("partition", d.partition))
            head = f"artifact {name}: {d.artifact_kind.value} {call_text(d.location)}"
            it = item([head], entries + meta, False, _end(d.location.span), optional=True)
            it.wrap = _call_wrap(f"artifact {name}: {d.artifact_kind.value} ", d.location)
            return it
        if isinstance(d, A.FlowDecl):
            entries = []
            if d.schedule is not None:
                entries.append(("schedule", (d.schedule, d.schedule_from) if d.schedule_from else d.schedule))
            if d.trigger is not None:
                entries.append(("trigger", (d.trigger, d.match_keys) if d.match_keys else d.trigger))
            for k in ("start", "end", "catchup", "defaults"):
                if getattr(d, k) is not None:
                    entries.append((k, getattr(d, k)))
            entries += [(k, getattr(d, k)) for k in ("runs", "alert") if getattr(d, k) is not None]
            entries += [("param", p) for p in d.params]
            entries += [("step", s) for s in d.steps]
            entries += [("edge", e) for e in d.edges]
            return item([f"flow {name}"], entries + meta, False, name_end)
        if isinstance(d, A.SloDecl):
            if d.template is not None:
                args = ", ".join(expr_text(a) for a in d.args)
                wrap = _Wrap(f"= {d.template.dotted}(", [expr_text(a) for a in d.args], ")", ",") if d.args else None
                return _Item([f"slo {name}", f"= {d.template.dotted}({args})"], None, pos, end,
                             align="slo_use", kind="slo", doc_target=True, wrap=wrap)
            params = "(" + ", ".join(p.value for p in d.params) + ")" if d.params else ""
            after = _end(d.params[-1].span) if d.params else name_end
            return item([f"slo {name}{params}"], [("objective", o) for o in d.objectives] + meta, True, after,
                        align="slo")
        if isinstance(d, A.RuntimeDecl):
            return item([f"runtime {name}"], [("setting", x) for x in d.settings] + meta, True, name_end,
                        align="runtime")
        raise TypeError(f"cannot format declaration {type(d).__name__}")

    # ------------------------------------------------------------ comments
    def _assign(self, block: _Block, comments: list[A.Comment]) -> None:
        items = [it for it in block.items if it.start is not None and it.end is not None]
        starts = [it.start for it in items]
        for c in comments:
            p = (c.span.line, c.span.col)
            k = bisect.bisect_right(starts, p) - 1
            if k >= 0 and p < items[k].end:  # inside item k
                it = items[k]
                b = it.block
                if b is not None and b.open_pos is not None and b.close_pos is not None \
                        and b.open_pos < p < b.close_pos:
                    b.incoming.append(c)
                else:
                    it.inner.append(c)
                continue
            if not self._own_line(c):
                prev = items[k] if k >= 0 else None
                if prev is not None and prev.trailing is None and self._only_separators(prev.end, p):
                    prev.trailing = c  # at the end of the previous item's line, or after its comma
                    continue
                if k < 0 and block.open_pos is not None and block.open_pos[0] == p[0] \
                        and block.open_comment is None:
                    block.open_comment = c
                    continue
            nxt = items[k + 1] if k + 1 < len(items) else None
            if nxt is not None:
                nxt.leading.append((c, False))
            else:
                block.end.append((c, False))
        self._blanks(block)
        for it in block.items:
            if it.block is not None:
                self._assign(it.block, it.block.incoming)
                it.block.incoming = []

    def _blanks(self, block: _Block) -> None:
        prev = block.open_pos[0] if block.open_pos is not None else None
        for it in block.items:
            if it.start is None or it.end is None:
                continue
            lead = [c for c, _ in it.leading]
            first = lead[0].span.line if lead else it.start[0]
            it.blank_before = prev is not None and self._blank_between(prev, first)
            it.leading = [(c, i > 0 and self._blank_between(lead[i - 1].span.line, c.span.line))
                          for i, c in enumerate(lead)]
            if lead:
                it.blank_after_leading = self._blank_between(lead[-1].span.line, it.start[0])
            prev = it.end[0]
        ends = [c for c, _ in block.end]
        block.end = [(c, self._blank_between(ends[i - 1].span.line if i else (prev or 0), c.span.line))
                     for i, c in enumerate(ends)]

    # ------------------------------------------------------------ printing
    def run(self) -> str:
        top = _Block("{", [self._with_doc(self._decl(d), d.meta) for d in self.module.decls], False)
        self._assign(top, self.comments)
        out: list[_Line] = []
        self._emit_top(top, out)
        lines = _render(out)
        return "\n".join(lines) + "\n" if lines else ""

    def _flat_ok(self, block: _Block) -> bool:
        if block.has_comments():
            return False
        return block.compact or not block.items

    def _flat_block(self, block: _Block) -> str:
        parts = [self._flat_item(i) for i in block.items]
        if not parts:
            return block.delim + block.close
        if block.delim == "{":
            return "{ " + ", ".join(parts) + " }"
        return block.delim + ", ".join(parts) + block.close

    def _flat_item(self, it: _Item) -> str:
        cells = list(it.cells)
        if it.block is not None and it.block.shown():
            cells.append(self._flat_block(it.block))
        return " ".join(c for c in cells if c)

    def _one_line(self, it: _Item, indent: int) -> list[str] | None:
        """The cells of the item on one line, or None when it takes several."""
        if it.block is None or not it.block.shown():
            return list(it.cells)
        if not self._flat_ok(it.block):
            return None
        cells = list(it.cells) + [self._flat_block(it.block)]
        if it.block.items and len(INDENT * indent + " ".join(cells)) > self.width:
            return None
        return cells

    def _too_long(self, it: _Item, cells: list[str], indent: int) -> bool:
        """Whether the item's line breaks at its `wrap` (it has one and the line overflows)."""
        return it.wrap is not None and len(INDENT * indent + " ".join(c for c in cells if c)) > self.width

    @staticmethod
    def _emit_wrapped(it: _Item, indent: int, out: list[_Line], after: str, trailing: str | None) -> None:
        w = it.wrap
        assert w is not None
        out.append(_Line(indent, [" ".join(c for c in it.cells[:-1] + [w.open] if c)]))
        out.extend(_Line(indent + 1, [p + w.sep]) for p in w.parts)
        out.append(_Line(indent, [w.close + after], trailing))

    @staticmethod
    def _blank(out: list[_Line]) -> None:
        if out and not out[-1].blank:
            out.append(_Line(0))

    def _top_blank(self, prev: _Item, cur: _Item, prev_one: bool, cur_one: bool) -> bool:
        src = cur.blank_before if self.has_source else True
        if _is_doc(prev.trailing):
            return src  # a `##` at the end of the line above is part of cur's doc comment (or is not)
        if cur.kind == "import" and prev.kind in _HEADER:
            return src and bool(cur.leading or cur.inner)
        if prev.kind in _HEADER or cur.kind in _HEADER:
            return True
        return src or not (prev_one and cur_one and prev.kind == cur.kind)

    def _emit_top(self, top: _Block, out: list[_Line]) -> None:
        prev: _Item | None = None
        prev_one = False
        for it in top.items:
            cells = self._one_line(it, 0)
            one = cells is not None and not self._too_long(it, cells, 0)
            if prev is not None and self._top_blank(prev, it, prev_one, one):
                self._blank(out)
            self._emit_item(it, 0, out)
            prev, prev_one = it, one
        self._emit_end(top, 0, out)

    def _emit_items(self, block: _Block, indent: int, out: list[_Line], sep: str) -> None:
        for i, it in enumerate(block.items):
            if it.blank_before and (i > 0 or _is_doc(block.open_comment)):
                self._blank(out)
            self._emit_item(it, indent, out, sep)
        self._emit_end(block, indent, out)

    def _emit_end(self, block: _Block, indent: int, out: list[_Line]) -> None:
        for i, (c, blank) in enumerate(block.end):
            if blank and (i > 0 or block.items):
                self._blank(out)
            out.append(_Line(indent, None, c.text.rstrip()))

    def _emit_item(self, it: _Item, indent: int, out: list[_Line], sep: str = "") -> None:
        for c in it.inner:
            out.append(_Line(indent, None, c.text.rstrip()))
        if it.inner:
            doc_guard = _is_doc(it.inner[-1])
            if (it.leading and (it.blank_before or doc_guard)) or (not it.leading and doc_guard and it.doc_target):
                self._blank(out)
        for i, (c, blank) in enumerate(it.leading):
            if i and blank:
                self._blank(out)
            out.append(_Line(indent, None, c.text.rstrip()))
        if it.leading and it.blank_after_leading:
            self._blank(out)
        trailing = it.trailing.text.rstrip() if it.trailing is not None else None
        cells = self._one_line(it, indent)
        if cells is not None:
            if self._too_long(it, cells, indent):
                self._emit_wrapped(it, indent, out, "".join(" " + c for c in cells[len(it.cells):]) + sep, trailing)
                return
            if sep:
                cells[-1] += sep
            out.append(_Line(indent, cells, trailing, it.align))
            return
        b = it.block
        assert b is not None
        opener = " ".join(c for c in it.cells if c) + " " + b.delim
        open_comment = b.open_comment.text.rstrip() if b.open_comment else None
        if self._too_long(it, [opener], indent):
            self._emit_wrapped(it, indent, out, " " + b.delim, open_comment)
        else:
            out.append(_Line(indent, [opener], open_comment))
        self._emit_items(b, indent + 1, out, "" if b.delim == "{" else ",")
        out.append(_Line(indent, [b.close + sep], trailing))


def _render(lines: list[_Line]) -> list[str]:
    """Aligns the columns of runs of like items, then the trailing comments, and makes the text."""
    n = len(lines)
    code: list[str | None] = [None] * n
    i = 0
    while i < n:
        ln = lines[i]
        if ln.cells is None:
            i += 1
            continue
        run = [i]
        j = i + 1
        if ln.align is not None and len(ln.cells) > 1:
            while j < n:
                nx = lines[j]
                if nx.is_comment and nx.indent == ln.indent:
                    j += 1
                    continue
                if nx.cells is not None and nx.align == ln.align and nx.indent == ln.indent:
                    run.append(j)
                    j += 1
                    continue
                break
        widths: dict[int, int] = {}
        for r in run:
            cells = lines[r].cells
            for k in range(len(cells) - 1):
                widths[k] = max(widths.get(k, 0), len(cells[k]))
        for r in run:
            cells = lines[r].cells
            parts = [cells[k].ljust(widths[k]) if k < len(cells) - 1 else cells[k] for k in range(len(cells))]
            code[r] = " ".join(parts)
        i = run[-1] + 1
    text: list[str] = [""] * n
    i = 0
    while i < n:
        ln = lines[i]
        if ln.blank:
            text[i] = ""
            i += 1
            continue
        if ln.cells is None:
            text[i] = INDENT * ln.indent + (ln.comment or "")
            i += 1
            continue
        j = i
        if ln.comment is not None:
            while j + 1 < n and lines[j + 1].cells is not None and lines[j + 1].comment is not None:
                j += 1
        width = max(len(INDENT * lines[r].indent + (code[r] or "")) for r in range(i, j + 1))
        for r in range(i, j + 1):
            body = INDENT * lines[r].indent + (code[r] or "")
            if lines[r].comment is not None:
                body = body.ljust(width) + "  " + lines[r].comment
            text[r] = body.rstrip()
        i = j + 1
    while text and text[-1] == "":
        text.pop()
    return text
