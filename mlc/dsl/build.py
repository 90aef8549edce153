"""Builds the AST while Lark parses (an inline LALR transformer: no parse tree is kept).

Block items come back as `(key, value, span)` triples; each declaration folds
its items into fields and reports a clause written twice.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from lark import Token
from lark_cython import Token as FastToken

from mlc.diagnostics import Diagnostic, Label, Span, error
from mlc.dsl import ast as A

DURATION_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
SIZE_UNITS = {"K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
               "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
_SIZE = re.compile(r"([0-9]+)([KMGT]i?)")

# the tokens of the pure-Python parser (error recovery, the language server) and of the
# compiled one (mlc.dsl.parser's whole-file parse)
TOKENS = (Token, FastToken)
_TOKEN_CLASSES = frozenset(TOKENS)  # `x.__class__ in` is cheaper than isinstance, in hot loops
_new_span = tuple.__new__  # Span(...) goes through a Python-level __new__; the builder makes millions

# Clauses that may be written more than once in one block.
_REPEATABLE = frozenset({"field", "from", "column", "derived", "binding", "step", "edge", "param",
                         "uses", "reads", "writes", "emits", "setting", "kwarg", "objective", "env_param",
                         "source_param", "request_source"})


@lru_cache(maxsize=4096)  # a program writes a few durations (`1h`, `10m`) tens of thousands of times
def duration_ms(text: str) -> int:
    return sum(int(n) * DURATION_UNITS_MS[u] for n, u in _DURATION_PART.findall(text))


def size_bytes(text: str) -> int:
    m = _SIZE.fullmatch(text)
    assert m is not None
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


def _depth(e) -> int:
    """How deeply an expression nests: 1 for a literal or a name."""
    return getattr(e, "depth", 1)


def first_span(x) -> Span | None:
    if isinstance(x, TOKENS):
        return None
    span = getattr(x, "span", None)
    if span is not None:
        return span
    if isinstance(x, tuple) and len(x) == 3 and isinstance(x[2], Span):
        return x[2]
    if isinstance(x, (list, tuple)):
        for y in x:
            s = first_span(y)
            if s is not None:
                return s
    return None


def _last_span(x) -> Span | None:
    if isinstance(x, (list, tuple)) and not (len(x) == 3 and isinstance(x[2], Span)):
        for y in reversed(x):
            s = _last_span(y)
            if s is not None:
                return s
        return None
    return first_span(x)


class _Group(tuple):
    """The names of one bracketed hop of an edge (`[b, c]`); `span` covers the brackets, so
    that an edge that starts with a group starts at its `[`."""

    def __new__(cls, names, span: Span) -> "_Group":
        group = super().__new__(cls, names)
        group.span = span
        return group

    def __getnewargs__(self):
        return (tuple(self), self.span)


def node(fn):
    """A rule callback: receives the rule's span, then its children without keywords and punctuation."""
    def callback(self: "AstBuilder", children: list):
        kept = self.kept
        return fn(self, self._span(children),
                  *[c for c in children if c.__class__ not in _TOKEN_CLASSES or c.type in kept])
    callback.__name__ = fn.__name__
    return callback


def node_list(fn):
    """Like `node`, but the children come as one list (for rules with repeated parts)."""
    def callback(self: "AstBuilder", children: list):
        kept = self.kept
        return fn(self, self._span(children),
                  [c for c in children if c.__class__ not in _TOKEN_CLASSES or c.type in kept])
    callback.__name__ = fn.__name__
    return callback


def _span_of(items: list, key: str) -> Span | None:
    """Where block item `key` was written (its first occurrence)."""
    return next((s for (k, _v, s) in items if k == key), None)


class AstBuilder:
    """Inline transformer: Lark calls one method per reduced rule, with every token kept
    (`keep_all_tokens`), so that spans cover keywords and closing braces; `kept_terminals`
    names the tokens that carry meaning, the rest are dropped before the method sees them."""

    def __init__(self, kept_terminals: frozenset[str]) -> None:
        self.kept = kept_terminals
        self.file = "<input>"
        self.line_offset = 0
        self.diagnostics: list[Diagnostic] = []

    # ---------------------------------------------------------------- spans
    def _tok_span(self, t: Token) -> Span:
        off = self.line_offset
        return _new_span(Span, (self.file, t.line + off, t.column, t.end_line + off, t.end_column))

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls._tok_span is not AstBuilder._tok_span:  # tokens placed elsewhere (the YAML front end)
            cls._span = AstBuilder._span_by_tokens

    def _span_by_tokens(self, children: list) -> Span:
        """`_span` for a builder that places tokens with its own `_tok_span`."""
        first = last = None
        for c in children:
            if c is None:
                continue
            first = self._tok_span(c) if isinstance(c, TOKENS) else first_span(c)
            if first is not None:
                break
        for c in reversed(children):
            if c is None:
                continue
            last = self._tok_span(c) if isinstance(c, TOKENS) else _last_span(c)
            if last is not None:
                break
        if first is None or last is None:
            return Span(self.file, 0, 0, 0, 0)
        return Span(self.file, first.line, first.col, last.end_line, last.end_col)

    def _span(self, children: list) -> Span:
        """From the first child's start to the last one's end. The builder's hottest code (one
        call per reduced rule): a token's position is read in place, not made a span first."""
        off = self.line_offset
        for c in children:
            if c.__class__ in _TOKEN_CLASSES:
                line, col = c.line + off, c.column
                break
            if c is not None and (first := first_span(c)) is not None:
                line, col = first.line, first.col
                break
        else:
            return _new_span(Span, (self.file, 0, 0, 0, 0))
        for c in reversed(children):
            if c.__class__ in _TOKEN_CLASSES:
                return _new_span(Span, (self.file, line, col, c.end_line + off, c.end_column))
            if c is not None and (last := _last_span(c)) is not None:
                return _new_span(Span, (self.file, line, col, last.end_line, last.end_col))
        return _new_span(Span, (self.file, 0, 0, 0, 0))

    # ---------------------------------------------------------------- literal rules
    def string(self, c: list) -> A.Literal:
        return self._lit_string(c[0])

    def int(self, c: list) -> A.Literal:
        return self._lit_int(c[0])

    def float(self, c: list) -> A.Literal:
        return self._lit_float(c[0])

    def duration(self, c: list) -> A.Literal:
        return self._lit_duration(c[0])

    def size(self, c: list) -> A.Literal:
        return self._lit_size(c[0])

    def percent(self, c: list) -> A.Literal:
        return self._lit_percent(c[0])

    def bool(self, c: list) -> A.Literal:
        return self._lit_bool(c[0])

    def star(self, c: list) -> A.Star:
        return self._lit_star(c[0])

    def _name(self, t: Token) -> A.Name:
        return A.Name(str(t), self._tok_span(t))

    def _fold(self, kind: str, items: list, allowed: frozenset[str] | None = None) -> tuple[dict, A.Meta]:
        """Folds block items into {key: value or [values]} and the declaration's metadata."""
        fields: dict = {}
        seen: dict[str, Span] = {}
        meta = A.Meta(clauses=tuple((key, span) for key, _value, span in items))
        for key, value, span in items:
            if key in ("owner", "tags", "tag_values", "description"):
                once = "tags" if key == "tag_values" else key  # one `tags`, in either form
                if once in seen:
                    self._twice(once, kind, span, seen[once])
                seen[once] = span
                setattr(meta, key, value)
                continue
            if key in _REPEATABLE:
                fields.setdefault(key, []).append(value)
                continue
            if key in seen:
                self._twice(key, kind, span, seen[key])
                continue
            seen[key] = span
            fields[key] = value
        return fields, meta

    def _twice(self, key: str, kind: str, span: Span, first: Span) -> None:
        self.diagnostics.append(error(
            "E0110", f"`{key}` is given twice in this {kind}", span,
            labels=(Label(first, "first given here"),),
            help=f"keep one `{key}` clause",
        ))

    # ---------------------------------------------------------------- literals
    def _lit_string(self, t: Token) -> A.Literal:
        text = str(t)
        try:
            value = json.loads(text)
        except ValueError:
            self.diagnostics.append(error(
                "E0103", "invalid escape in string", self._tok_span(t),
                help='strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX',
            ))
            value = text[1:-1]
        return A.Literal("string", value, text, self._tok_span(t))

    def _lit_int(self, t: Token) -> A.Literal:
        return A.Literal("int", int(t.value), t.value, self._tok_span(t))

    def _lit_float(self, t: Token) -> A.Literal:
        return A.Literal("float", float(t.value), t.value, self._tok_span(t))

    @node
    def neg_int(self, span, _minus: Token, t: Token) -> A.Literal:
        return A.Literal("int", -int(t.value), f"-{t.value}", span)

    @node
    def neg_float(self, span, _minus: Token, t: Token) -> A.Literal:
        return A.Literal("float", -float(t.value), f"-{t.value}", span)

    def _lit_duration(self, t: Token | None) -> A.Literal | None:
        if t is None:
            return None
        return A.Literal("duration", duration_ms(t.value), t.value, self._tok_span(t))

    def _lit_size(self, t: Token) -> A.Literal:
        return A.Literal("size", size_bytes(str(t)), str(t), self._tok_span(t))

    def _lit_percent(self, t: Token) -> A.Literal:
        return A.Literal("percent", float(str(t)[:-1]), str(t), self._tok_span(t))

    def _lit_bool(self, t: Token) -> A.Literal:
        return A.Literal("bool", str(t) == "true", str(t), self._tok_span(t))

    @node
    def range(self, span, low: A.Literal, high: A.Literal) -> A.Range:
        return A.Range(low, high, span)

    # ---------------------------------------------------------------- values and expressions
    @node_list
    def dotted(self, span, toks: list[Token]) -> A.Ref:
        return A.Ref(tuple(str(t) for t in toks), span)

    def ref(self, c: list) -> A.Ref:
        return c[0]  # its one child, the `dotted` (no span to compute: the Ref has its own)

    @node_list
    def call(self, span, children: list) -> A.Call:
        func, *args = children
        return self._nested(A.Call(func, tuple(self._arg(a) for a in args if a is not None), span))

    def _arg(self, a) -> A.Arg:
        if isinstance(a, A.Arg):
            return a
        return A.Arg(None, a, a.span)

    @node
    def named_arg(self, span, name: Token, value) -> A.Arg:
        return A.Arg(self._name(name), value, span)

    kwarg = named_arg

    @node_list
    def list(self, span, items: list) -> A.ListExpr:
        return self._nested(A.ListExpr(tuple(i for i in items if i is not None), span))

    @node_list
    def func(self, span, children: list) -> A.Call:
        name, *args = children
        func = A.Ref((str(name),), self._tok_span(name))
        return self._nested(A.Call(func, tuple(self._arg(a) for a in args if a is not None), span))

    def _lit_star(self, t: Token) -> A.Star:
        return A.Star(self._tok_span(t))

    @node
    def or_(self, span, a, b):
        return self._row("or", a, b, span)

    @node
    def and_(self, span, a, b):
        return self._row("and", a, b, span)

    @node
    def not_(self, span, a):
        return self._nested(A.UnaryOp("not", a, span))

    @node
    def paren(self, span, inner):
        return inner

    @node
    def neg(self, span, _m, a):
        return self._nested(A.UnaryOp("-", a, span))

    @node
    def compare(self, span, a, op: Token, b):
        return self._nested(A.BinOp(str(op), [a, b], span))

    @node
    def binop(self, span, a, op: Token, b):
        return self._row(str(op), a, b, span)

    @node
    def contains(self, span, a, b):
        return self._nested(A.BinOp("in", [a, b], span))

    def _row(self, op: str, a, b, span: Span):
        """`a op b`, where `a` may be a row of `op` already: the row grows by one operand
        instead of nesting (`and` and `or` also take in a parenthesised row on the right:
        they are associative)."""
        if isinstance(a, A.BinOp) and a.op == op:
            row = a  # the LALR transformer hands each node to its parent only: it is ours to grow
            row.span = span
        else:
            row = A.BinOp(op, [a], span, 1 + _depth(a))
        if op in ("and", "or") and isinstance(b, A.BinOp) and b.op == op:
            row.operands.extend(b.operands)
            row.depth = max(row.depth, b.depth)
        else:
            row.operands.append(b)
            row.depth = max(row.depth, 1 + _depth(b))
        return self._capped(row)

    def _nested(self, e):
        """A node one level above its children; refused past `MAX_DEPTH` (E0008)."""
        if isinstance(e, A.BinOp):
            inner = e.operands
        elif isinstance(e, A.UnaryOp):
            inner = (e.operand,)
        elif isinstance(e, A.Call):
            inner = [a.value for a in e.args]
        else:
            inner = e.items
        e.depth = 1 + max(map(_depth, inner), default=0)
        return self._capped(e)

    def _capped(self, e):
        if e.depth <= A.MAX_DEPTH:
            return e
        if e.depth == A.MAX_DEPTH + 1:  # deeper means a part was refused already: one error
            self.diagnostics.append(error(
                "E0008", f"this expression nests more than {A.MAX_DEPTH} levels deep", e.span,
                help="name parts of it (a parameter, a feature, a step's metric), or drop parentheses: "
                     "a row of one operator (`a and b and c ...`) does not nest, however long",
                notes=("every stage that reads an expression walks it level by level: the compiler, "
                       "Python, Airflow's templates and the SQL engines",)))
        # in its place an empty list, as shallow as a value gets: the declaration has an error
        return A.ListExpr((), e.span, A.MAX_DEPTH + 1)

    # ---------------------------------------------------------------- shared pieces
    @node_list
    def name_list(self, span, toks: list[Token]) -> list[A.Name]:
        return [self._name(t) for t in toks]

    @node
    def type(self, span, name: Token, args=None, q=None) -> A.TypeRef:
        if isinstance(args, TOKENS):
            args, q = None, args
        return A.TypeRef(str(name), tuple(n.value for n in args or ()), q is not None, None,
                         span)

    @node_list
    def struct_type(self, span, children: list) -> A.TypeRef:
        name, *rest = children
        q = rest.pop() if rest and isinstance(rest[-1], TOKENS) else None
        return A.TypeRef(str(name), (), q is not None, None, span, fields=self._fields(rest))

    @node
    def list_type(self, span, element: A.TypeRef, q=None) -> A.TypeRef:
        return A.TypeRef("list", (), q is not None, element, span)

    @node
    def field(self, span, name: Token, t: A.TypeRef, description=None):
        desc = self._lit_string(description) if description is not None else None
        return ("field", A.Field(self._name(name), t, span, desc), span)

    @node
    def param_field(self, span, name: Token, t: A.TypeRef, default=None):
        return A.ParamField(self._name(name), t, default, span)

    @node
    def setting(self, span, name: Token, value):
        return ("setting", A.Setting(self._name(name), value, span), span)

    @node
    def owner(self, span, s: Token):
        return ("owner", self._lit_string(s), span)

    @node_list
    def tags(self, span, toks: list):
        return ("tags", tuple(self._lit_string(t) for t in toks if t is not None), span)

    @node_list
    def tag_map(self, span, pairs: list):
        return ("tag_values", tuple(pairs), span)

    @node
    def tag_pair(self, span, key: Token, value: Token):
        k = self._lit_string(key) if key.type == "STRING" else A.Literal("string", str(key), str(key),
                                                                        self._tok_span(key))
        return (k, self._lit_string(value))

    @node
    def description(self, span, s: Token):
        return ("description", self._lit_string(s), span)

    @staticmethod
    def _fields(items: list) -> tuple[A.Field, ...]:
        return tuple(v for (_k, v, _s) in items)

    # ---------------------------------------------------------------- modules
    @node
    def package_decl(self, span, name: A.Ref) -> A.PackageDecl:
        return A.PackageDecl(A.Name(name.dotted, name.span), span, A.Meta())

    @node
    def import_decl(self, span, module: A.Ref, members=None, alias=None) -> A.ImportDecl:
        if isinstance(members, TOKENS):
            members, alias = None, members
        return A.ImportDecl(A.Name(module.dotted, module.span), span, A.Meta(),
                            module=module, members=tuple(members or ()),
                            alias=self._name(alias) if alias is not None else None)

    # ---------------------------------------------------------------- env
    @node
    def binding(self, span, name: Token, call: A.Call):
        return ("binding", A.Binding(self._name(name), call, span), span)

    @node_list
    def feature_store(self, span, settings: list):
        return ("feature_store", tuple(v for (_k, v, _s) in settings), span)

    @node_list
    def env_decl(self, span, children: list) -> A.EnvDecl:
        name, *items = children
        f, m = self._fold("env", items)
        return A.EnvDecl(self._name(name), span, m, bindings=tuple(f.get("binding", ())),
                         feature_store=f.get("feature_store"),
                         feature_store_span=next((s for (k, _v, s) in items if k == "feature_store"), None))

    # ---------------------------------------------------------------- connectors
    @node_list
    def connector_kinds(self, span, children: list):
        return ("kinds", tuple(children[0]), span)

    @node_list
    def connector_env(self, span, children: list):
        return ("env", tuple(children), span)

    @node_list
    def connector_source(self, span, children: list):
        return ("source", tuple(children), span)

    @node_list
    def connector_decl(self, span, children: list) -> A.ConnectorDecl:
        name, *items = children
        f, m = self._fold("connector", items)
        return A.ConnectorDecl(self._name(name), span, m, kinds=f.get("kinds", ()),
                               env_params=f.get("env", ()), source_params=f.get("source", ()))

    # ---------------------------------------------------------------- sources
    @node_list
    def schema(self, span, items: list):
        return ("schema", self._fields(items), span)

    @node
    def event_time(self, span, name: Token):
        return ("event_time", self._name(name), span)

    @node
    def watermark(self, span, d: Token):
        return ("watermark", self._lit_duration(d), span)

    @node
    def arrives(self, span, every: Token, delay=None):
        return ("arrives", (self._lit_duration(every), self._lit_duration(delay)), span)

    @node
    def created_time(self, span, name: Token):
        return ("created_time", self._name(name), span)

    @node
    def push_batch(self, span, name: Token):
        return ("batch", self._name(name), span)

    @node_list
    def source_decl(self, span, children: list) -> A.SourceDecl:
        name, kind, call, *items = children
        return self._source(span, name, str(kind), call, items)

    @node_list
    def push_source_decl(self, span, children: list) -> A.SourceDecl:
        name, *items = children
        return self._source(span, name, "push", None, items)

    @node_list
    def request_source_decl(self, span, children: list) -> A.SourceDecl:
        name, *items = children
        return self._source(span, name, "request", None, items)

    def _source(self, span, name: Token, kind: str, call: A.Call | None, items: list) -> A.SourceDecl:
        f, m = self._fold("source", [i for i in items if i is not None])
        every, delay = f.get("arrives", (None, None))
        return A.SourceDecl(self._name(name), span, m, source_kind=kind,
                            connector=call, schema=f.get("schema", ()), event_time=f.get("event_time"),
                            watermark=f.get("watermark"), arrives_every=every, arrives_delay=delay,
                            created_time=f.get("created_time"), batch=f.get("batch"))

    # ---------------------------------------------------------------- entities
    @node
    def key(self, span, fld):
        return ("key", fld[1], span)

    @node_list
    def composite_key(self, span, fields: list):
        return ("composite_key", self._fields(fields), span)

    @node_list
    def entity_decl(self, span, children: list) -> A.EntityDecl:
        name, *items = children
        keys = [i for i in items if i[0] in ("key", "composite_key")]
        _, m = self._fold("entity", [i for i in items if i[0] not in ("key", "composite_key")])
        m.clauses = tuple((k, s) for k, _v, s in items)
        if len(keys) > 1:
            self.diagnostics.append(error(
                "E0110", "an entity has one key clause: a single key or one composite `key (...)`",
                keys[1][2], labels=(Label(keys[0][2], "first key here"),),
                help="list every key column inside one `key (a: string, b: string)`"))
        kind, value, _ = keys[0] if keys else ("key", None, None)
        composite = kind == "composite_key"
        fields = tuple(value) if composite else (value,) if value is not None else ()
        return A.EntityDecl(self._name(name), span, m, keys=fields, composite=composite)

    # ---------------------------------------------------------------- features
    @node
    def feature_from(self, span, ref: A.Ref):
        return ("from", ref, span)

    @node
    def column(self, span, name: Token, t: A.TypeRef, description=None):
        desc = self._lit_string(description) if description is not None else None
        return ("column", A.Column(self._name(name), t, span, desc), span)

    @node
    def derived(self, span, name: Token, *rest):
        # `name [: type] ["description"] = expr [window]`: the description as a field's, before `=`
        strings = [x for x in rest[:2] if isinstance(x, TOKENS) and x.type == "STRING"]
        desc = self._lit_string(strings[0]) if strings else None
        rest = tuple(x for x in rest if not (strings and x is strings[0]))
        t = rest[0] if isinstance(rest[0], A.TypeRef) else None
        window = rest[-1] if isinstance(rest[-1], A.Window) else None
        expr = rest[1 if t is not None else 0]
        return ("derived", A.Derived(self._name(name), t, expr, window, span, desc), span)

    @node
    def window(self, span, size: Token, every=None) -> A.Window:
        return A.Window(self._lit_duration(size), self._lit_duration(every), span)

    @node_list
    def request(self, span, items: list):
        return ("request", self._fields(items), span)

    @node
    def request_ref(self, span, name: Token):
        return ("request_source", self._name(name), span)

    @node
    def ttl(self, span, d: Token):
        return ("ttl", self._lit_duration(d), span)

    @node
    def registered(self, span):
        return ("registered", span, span)

    @node
    def validate(self, span):
        return ("validate", span, span)

    @node
    def version(self, span, text: Token):
        return ("version", self._lit_string(text), span)

    @node_list
    def on_demand(self, span, settings: list):
        return ("on_demand", tuple(v for (_k, v, _s) in settings), span)

    @node_list
    def label_view(self, span, settings: list):
        return ("label_view", tuple(v for (_k, v, _s) in settings), span)

    @node
    def checkpoint(self, span, d: Token):
        return ("checkpoint", self._lit_duration(d), span)

    @node
    def online(self, span, flag=None):
        return ("online", A.Online(None, span, flag is None or str(flag) == "true"), span)

    @node
    def offline(self, span, call: A.Call):
        return ("offline", call, span)

    @node
    def schedule_item(self, span, s: A.Schedule):
        return ("schedule", s, span)

    @node
    def timeout(self, span, d: Token):
        return ("timeout", self._lit_duration(d), span)

    @node
    def freshness(self, span, op: Token, d: Token):
        return ("freshness", A.Comparison(str(op), self._lit_duration(d), span), span)

    @node_list
    def features_decl(self, span, children: list) -> A.FeaturesDecl:
        name, *items = children
        entity = items.pop(0) if items and isinstance(items[0], TOKENS) else None  # `on ENTITY` is optional
        f, m = self._fold("feature group", items)
        online, ttl = f.get("online"), f.get("ttl")
        if online is not None and ttl is not None:  # `online ttl 1d`: the ttl of the online store
            first, last = sorted((online.span, ttl.span), key=lambda x: (x.line, x.col))
            online, ttl = A.Online(ttl, Span(first.file, first.line, first.col, last.end_line, last.end_col),
                                   online.enabled), None
        return A.FeaturesDecl(
            self._name(name), span, m, entity=self._name(entity) if entity is not None else None,
            sources=tuple(f.get("from", ())), columns=tuple(f.get("column", ())),
            derived=tuple(f.get("derived", ())), request=f.get("request", ()),
            request_sources=tuple(f.get("request_source", ())),
            checkpoint=f.get("checkpoint"), online=online, offline=f.get("offline"),
            schedule=f.get("schedule"), timeout=f.get("timeout"), freshness=f.get("freshness"),
            ttl=ttl, registered=f.get("registered"), validate=f.get("validate"), version=f.get("version"),
            on_demand=f.get("on_demand"), on_demand_span=_span_of(items, "on_demand"),
            label_view=f.get("label_view"), label_view_span=_span_of(items, "label_view"))

    # ---------------------------------------------------------------- models
    @node
    def framework(self, span, name: Token):
        return ("framework", self._name(name), span)

    @node_list
    def inputs(self, span, refs: list):
        return ("inputs", tuple(r for r in refs if r is not None), span)

    @node
    def feature_ref(self, span, group: Token, feature: Token) -> A.FeatureRef:
        return A.FeatureRef(self._name(group), self._name(feature), span)

    @node
    def feature_star(self, span, group: Token, _star: Token) -> A.FeatureRef:
        return A.FeatureRef(self._name(group), None, span)

    @node
    def output(self, span, fld):
        return ("output", fld[1], span)

    @node
    def confidence(self, span, r: A.Range):
        return ("confidence", r, span)

    @node
    def fallback(self, span, model: Token, when=None):
        return ("fallback", A.Fallback(self._name(model), when, span), span)

    @node_list
    def serve(self, span, settings: list):
        return ("serve", tuple(v for (_k, v, _s) in settings), span)

    @node
    def model_service(self, span, name: Token):
        return ("service", self._name(name), span)

    @node
    def model_labels(self, span, r: A.FeatureRef):
        return ("labels", r, span)

    @node_list
    def model_decl(self, span, children: list) -> A.ModelDecl:
        name, *items = children
        det = items.pop(0) if items and isinstance(items[0], TOKENS) else None
        f, m = self._fold("model", items)
        serve_span = next((s for (k, _v, s) in items if k == "serve"), None)
        return A.ModelDecl(
            self._name(name), span, m,
            determinism=self._name(det) if det is not None else None,
            framework=f.get("framework"), inputs=f.get("inputs", ()), output=f.get("output"),
            confidence=f.get("confidence"), fallback=f.get("fallback"), serve=f.get("serve"),
            serve_span=serve_span, service=f.get("service"), labels=f.get("labels"))

    # ---------------------------------------------------------------- feature services
    @node_list
    def service_features(self, span, refs: list):
        return ("features", tuple(r for r in refs if r is not None), span)

    @node
    def service_logging(self, span, call: A.Call, sample=None):
        rate = None
        if sample is not None:
            rate = self._lit_percent(sample) if sample.type == "PERCENT" else self._lit_float(sample)
        return ("logging", A.ServiceLogging(call, rate, span), span)

    @node_list
    def service_decl(self, span, children: list) -> A.ServiceDecl:
        name, *items = children
        model = items.pop(0) if items and isinstance(items[0], TOKENS) else None
        f, m = self._fold("service", items)
        return A.ServiceDecl(self._name(name), span, m, model=self._name(model) if model is not None else None,
                             features=f.get("features", ()), logging=f.get("logging"))

    # ---------------------------------------------------------------- signals
    @node_list
    def signal_decl(self, span, children: list) -> A.SignalDecl:
        name, *items = children
        external = items.pop(0) if items and isinstance(items[0], TOKENS) else None
        f, m = self._fold("signal", items)
        return A.SignalDecl(self._name(name), span, m, external=external is not None,
                            fields=tuple(f.get("field", ())), uri=f.get("uri"))

    @node
    def signal_uri(self, span, _kw: Token, s: Token):
        return ("uri", self._lit_string(s), span)

    # ---------------------------------------------------------------- artifacts
    @node_list
    def artifact_decl(self, span, children: list) -> A.ArtifactDecl:
        name, kind, call, *items = children
        f, m = self._fold("artifact", [i for i in items if i is not None])
        return A.ArtifactDecl(self._name(name), span, m, artifact_kind=self._name(kind), location=call,
                              schema=tuple(f.get("schema", ())), partition=f.get("partition"))

    @node
    def partition(self, span, name: Token):
        return ("partition", self._name(name), span)

    # ---------------------------------------------------------------- flows
    @node
    def cron(self, span, s: Token) -> A.Schedule:
        return A.Schedule("cron", self._lit_string(s), span)

    @node
    def interval(self, span, d: Token) -> A.Schedule:
        return A.Schedule("interval", self._lit_duration(d), span)

    @node
    def preset(self, span, name: Token) -> A.Schedule:
        return A.Schedule("preset", self._name(name), span)

    @node
    def trigger_item(self, span, t):
        return ("trigger", t, span)

    @node
    def on_finish(self, span, name: Token) -> A.OnFinish:
        return A.OnFinish(self._name(name), span)

    @node_list
    def on_signal(self, span, children: list) -> A.OnSignal:
        name, *args = children
        return A.OnSignal(self._name(name), tuple(a for a in args if isinstance(a, A.Arg)), span,
                          conditions=tuple(a for a in args if not isinstance(a, A.Arg)))

    @node
    def schedule_from(self, span, s: A.Schedule, first: Token):
        return ("schedule", (s, self._lit_string(first)), span)

    @node_list
    def trigger_match(self, span, children: list):
        t, *keys = children
        names = keys[0] if keys and isinstance(keys[0], list) else [self._name(k) for k in keys]
        return ("trigger", (t, tuple(names)), span)

    @node
    def trigger_all(self, span, a, b) -> A.TriggerAll:
        items = (a.items if isinstance(a, A.TriggerAll) else (a,)) + (b,)
        return A.TriggerAll(items, span)

    @node
    def trigger_or(self, span, a, b) -> A.TriggerAny:
        items = (a.items if isinstance(a, A.TriggerAny) else (a,)) + (b,)
        return A.TriggerAny(items, span)

    @node
    def param(self, span, name: Token, t: A.TypeRef, default=None):
        return ("param", A.Param(self._name(name), t, default, span), span)

    @node
    def catchup(self, span, b: Token):
        return ("catchup", self._lit_bool(b), span)

    @node
    def flow_start(self, span, _kw: Token, s: Token):
        return ("start", self._lit_string(s), span)

    @node
    def flow_end(self, span, _kw: Token, s: Token):
        return ("end", self._lit_string(s), span)

    @node_list
    def defaults(self, span, children: list):
        items = [c for c in children if not isinstance(c, TOKENS)]
        f, m = self._fold("defaults", items)
        return ("defaults", A.StepDefaults(span, retries=f.get("retries"), retry_delay=f.get("retry_delay"),
                                           timeout=f.get("timeout"), owner=m.owner, clauses=m.clauses), span)

    @node
    def retries(self, span, n: Token):
        return ("retries", self._lit_int(n), span)

    @node
    def retry_delay(self, span, d: Token):
        return ("retry_delay", self._lit_duration(d), span)

    @node_list
    def resources(self, span, settings: list):
        return ("resources", tuple(v for (_k, v, _s) in settings), span)

    @node_list
    def step_env(self, span, args: list):
        return ("env", tuple(args), span)

    @node
    def step_determinism(self, span, t: Token):
        return ("determinism", self._name(t), span)

    @node
    def produces(self, span, name: Token):
        return ("produces", self._name(name), span)

    @node
    def uses(self, span, name: Token):
        return ("uses", self._name(name), span)

    @node
    def reads(self, span, name: Token):
        return ("reads", self._name(name), span)

    @node
    def writes(self, span, name: Token):
        return ("writes", self._name(name), span)

    @node
    def gate(self, span, expr):
        return ("gate", expr, span)

    @node_list
    def emits(self, span, children: list):
        name, *args = children
        return ("emits", A.Emit(self._name(name), tuple(a for a in args if a is not None), span), span)

    @node
    def foreach(self, span, var: Token, expr):
        return ("foreach", A.Foreach(self._name(var), expr, span), span)

    @node
    def when(self, span, expr):
        return ("when", expr, span)

    @node_list
    def step(self, span, children: list):
        name, call, *items = children
        f, m = self._fold("step", [i for i in items if i is not None])
        step = A.Step(self._name(name), call, span, m, retries=f.get("retries"),
                      retry_delay=f.get("retry_delay"), timeout=f.get("timeout"),
                      resources=f.get("resources", ()), env=f.get("env", ()),
                      determinism=f.get("determinism"), produces=f.get("produces"),
                      uses=tuple(f.get("uses", ())), reads=tuple(f.get("reads", ())),
                      writes=tuple(f.get("writes", ())), gate=f.get("gate"), emits=tuple(f.get("emits", ())),
                      foreach=f.get("foreach"), when=f.get("when"))
        self._policy(step, f)
        return ("step", step, span)

    @staticmethod
    def _policy(step: A.Step, f: dict) -> None:
        """A step's run policy clauses (issue 19); `retries { ... }` shares the key of `retries N`,
        so that writing both is E0110."""
        if isinstance(step.retries, tuple):
            step.retries, step.retry_policy = None, step.retries
        step.returns, step.on_failure = f.get("returns"), f.get("on_failure")
        step.runtime, step.parallel = f.get("runtime"), f.get("parallel")

    @node_list
    def returns(self, span, items: list):
        return ("returns", self._fields(items), span)

    @node_list
    def retry_policy(self, span, items: list):
        return ("retries", tuple(v for (_k, v, _s) in items), span)

    @node
    def on_failure(self, span, name: Token):
        return ("on_failure", self._name(name), span)

    @node
    def step_runtime(self, span, name: Token):
        return ("runtime", self._name(name), span)

    @node
    def parallel(self, span, n: Token):
        return ("parallel", self._lit_int(n), span)

    @node
    def runs(self, span, mode: Token, limit=None):
        return ("runs", A.Runs(self._name(mode), self._lit_int(limit) if limit is not None else None, span), span)

    @node_list
    def alert(self, span, items: list):
        return ("alert", tuple(v for (_k, v, _s) in items), span)

    @node_list
    def runtime_decl(self, span, children: list) -> A.RuntimeDecl:
        name, *items = children
        f, m = self._fold("runtime", items)
        return A.RuntimeDecl(self._name(name), span, m, settings=tuple(f.get("setting", ())))

    @node
    def edge_one(self, span, name: Token) -> tuple[A.Name, ...]:
        return (self._name(name),)

    @node
    def edge_many(self, span, names: list[A.Name]) -> tuple[A.Name, ...]:
        return _Group(names, span)

    @node_list
    def edge(self, span, children: list):
        hops = tuple(c for c in children if not isinstance(c, TOKENS))
        return ("edge", A.Edge(hops, span), span)

    @node_list
    def flow_decl(self, span, children: list) -> A.FlowDecl:
        name, *items = children
        f, m = self._fold("flow", items)
        schedule, first = f.get("schedule"), None
        if isinstance(schedule, tuple):
            schedule, first = schedule
        trigger, keys = f.get("trigger"), ()
        if isinstance(trigger, tuple):
            trigger, keys = trigger
        return A.FlowDecl(self._name(name), span, m, schedule=schedule, schedule_from=first, match_keys=keys,
                          trigger=trigger, params=tuple(f.get("param", ())),
                          catchup=f.get("catchup"), steps=tuple(f.get("step", ())),
                          edges=tuple(f.get("edge", ())), start=f.get("start"), end=f.get("end"),
                          defaults=f.get("defaults"), runs=f.get("runs"), alert=f.get("alert"))

    # ---------------------------------------------------------------- SLOs
    def _objective(self, kind: str, span, target: A.Ref, metric, op, value, window=None):
        obj = A.Objective(kind, target, self._name(metric) if metric is not None else None,
                          str(op), value, window, span)
        return ("objective", obj, span)

    @node
    def obj_freshness(self, span, target, op, value):
        return self._objective("freshness", span, target, None, op, value)

    @node
    def obj_latency(self, span, target, metric, op, value, window=None):
        return self._objective("latency", span, target, metric, op, value, window)

    @node
    def obj_availability(self, span, target, op, value, window=None):
        return self._objective("availability", span, target, None, op, value, window)

    @node
    def obj_quality(self, span, target, metric, op, value):
        return self._objective("quality", span, target, metric, op, value)

    @node
    def obj_completion(self, span, target, value):
        return self._objective("completion", span, target, None, "by", value)

    @node
    def obj_fallback_rate(self, span, target, op, value, window=None):
        return self._objective("fallback_rate", span, target, None, op, value, window)

    @node
    def obj_drift(self, span, target, metric, op, value):
        return self._objective("drift", span, target, metric, op, value)

    @node_list
    def slo_decl(self, span, children: list) -> A.SloDecl:
        name, *items = children
        params = items.pop(0) if items and isinstance(items[0], list) else None
        f, m = self._fold("slo", items)
        return A.SloDecl(self._name(name), span, m, params=tuple(params or ()),
                         objectives=tuple(f.get("objective", ())))

    @node_list
    def slo_use(self, span, children: list) -> A.SloDecl:
        name, template, *args = children
        return A.SloDecl(self._name(name), span, A.Meta(), template=template,
                         args=tuple(a for a in args if a is not None))

    def start(self, decls: list) -> list:
        return decls

