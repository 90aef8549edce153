"""`.flow.yaml` -> the same AST the .flow parser builds, so that resolution, lowering and
every check are shared.

Three stages, each reporting instead of raising:

1. Load: ruamel.yaml composes the document into nodes (no Python object is ever
   constructed from a tag, so `!!python/object` and friends are rejected, not run).
   The nodes are copied into `YNode`s that keep every key's and value's position.
   Malformed YAML, duplicate keys and unsupported tags are E0111.
2. Validate: the plain data is checked against the pydantic models of
   `yaml_schema`; each error's `loc` is walked back to the YAML node it names
   (E0112, "unknown key `retires` in step `train`; did you mean `retries`?").
3. Build: each declaration that validated becomes AST nodes. Scalars written in
   .flow syntax (expressions, calls, types, triggers, schedules) are parsed with
   the language's own Lark grammar and AST builder, under extra start symbols,
   with every token's position mapped back into the YAML scalar; a bad one is
   E0113, pointing into the scalar.
"""

from __future__ import annotations

import bisect
import json
import typing
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mlc.diagnostics import Diagnostic, Label, Span, did_you_mean, error
from mlc.dsl import ast as A
from mlc.dsl.build import AstBuilder, duration_ms
from mlc.dsl.parser import attach_docs

YAML_SUFFIXES = (".flow.yaml", ".flow.yml")
MAX_ERRORS = 50
MAX_NODES = 200_000  # after alias expansion: a "billion laughs" document stops here

_STR, _INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "merge", "timestamp"))
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP}

# Start symbols of the grammar that YAML scalars are parsed with.
_STARTS = ["expr", "value", "call", "type", "trigger", "schedule", "range", "feature_ref",
           "slo_item", "step_item", "feature_item", "model_item", "flow_item", "param_field", "slo_decl",
           "import_decl", "field", "service_item"]


# ---------------------------------------------------------------- positions
class _Lines:
    """Offsets of the line starts of a text: index <-> (line, col), 1-based."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)

    def at(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index) - 1
        return line + 1, index - self.starts[line] + 1


class _ScalarMap:
    """Where each character of a scalar's value is in the YAML text.

    A one-line plain scalar is its source slice. Quoted and block scalars are aligned
    greedily (escapes, folded line breaks and indentation skipped), which is exact for
    what people write and close for the rest.
    """

    def __init__(self, value: str, start: int, end: int, style: str | None, lines: _Lines) -> None:
        self.lines = lines
        self.length = len(value)
        src = lines.text
        if style is None and src[start:end] == value:
            self.offsets = None
            self.base = start
            return
        p = start
        if style in ("'", '"'):
            p += 1
        elif style in ("|", ">"):
            nl = src.find("\n", start, end)
            p = nl + 1 if nl >= 0 else start
        offsets = []
        for ch in value:
            if ch in " \n" and (p >= end or src[p] != ch):
                q = p
                while q < end and src[q] in " \t\n\r":
                    q += 1
                offsets.append(p)
                p = q
                continue
            q = src.find(ch, p, end)
            if q < 0 or q - p > 12:
                q = p
            offsets.append(q)
            p = q + 1
        offsets.append(min(p, end))
        self.offsets = offsets
        self.base = start

    def index(self, i: int) -> int:
        """Offset in the YAML text of character `i` of the value (`length`: just after the last)."""
        i = max(0, min(i, self.length))
        if self.offsets is None:
            return self.base + i
        return self.offsets[i]

    def span(self, file: str, i: int, j: int) -> Span:
        i = max(0, min(i, self.length))
        j = max(i, min(j, self.length))
        a = self.index(i)
        b = self.index(j - 1) + 1 if j > i else a
        l1, c1 = self.lines.at(a)
        l2, c2 = self.lines.at(max(a, b))
        return Span(file, l1, c1, l2, c2)


# ---------------------------------------------------------------- the node tree
@dataclass(slots=True, eq=False)
class YNode:
    """A YAML node with its position. kind: map | seq | scalar.

    `items` of a map: key -> (key node, value node), in document order; `text` of a
    scalar: what a .flow-syntax scalar says (the source spelling of a number).
    """

    kind: str
    span: Span
    value: Any = None
    items: dict | None = None
    seq: list | None = None
    text: str = ""
    smap: _ScalarMap | None = None
    data: Any = None

    def get(self, key: str) -> "YNode | None":
        if self.items is None:
            return None
        pair = self.items.get(key)
        return pair[1] if pair else None

    def key(self, key: str) -> "YNode | None":
        if self.items is None:
            return None
        pair = self.items.get(key)
        return pair[0] if pair else None


class _LoadError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Loader:
    """ruamel nodes -> YNodes, checking tags, keys and size."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines = _Lines(text)
        self.diagnostics: list[Diagnostic] = []
        self.done: dict[int, YNode] = {}
        self.sizes: dict[int, int] = {}
        self.scalar_ranges: list[tuple[int, int]] = []

    def span(self, node) -> Span:
        l1, c1 = self.lines.at(node.start_mark.index)
        l2, c2 = self.lines.at(max(self._end(node), node.start_mark.index))
        return Span(self.path, l1, c1, l2, c2)

    def _end(self, node) -> int:
        """End offset of a node: a block collection ends with its last value, not at the next key."""
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        if isinstance(node, MappingNode) and not node.flow_style and node.value:
            return self._end(node.value[-1][1])
        if isinstance(node, SequenceNode) and not node.flow_style and node.value:
            return self._end(node.value[-1])
        end = node.end_mark.index
        while end > node.start_mark.index and self.text[end - 1] in " \t\r\n":
            end -= 1
        return end

    def _size(self, node) -> int:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        self.sizes[key] = 1  # a recursive alias counts once
        n = 1
        if isinstance(node, MappingNode):
            n += sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            n += sum(self._size(v) for v in node.value)
        self.sizes[key] = min(n, MAX_NODES + 1)
        return self.sizes[key]

    def load(self, node) -> YNode:
        if self._size(node) > MAX_NODES:
            raise _LoadError(error("E0111", "the document is too large after expanding its aliases "
                                            f"(more than {MAX_NODES} nodes)", self.span(node)))
        return self._node(node, ())

    def _tag_error(self, node) -> _LoadError:
        tag = node.tag
        shown = "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
        return _LoadError(error(
            "E0111", f"unsupported YAML tag `{shown}`", self.span(node),
            help="a .flow.yaml document holds mappings, lists, text, numbers and true/false only; "
                 "remove the tag",
            notes=("mlc loads YAML safely: tags never construct objects",)))

    def _node(self, node, active: tuple) -> YNode:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        if id(node) in active:
            raise _LoadError(error("E0111", "a YAML alias refers to a node that contains it",
                                   self.span(node)))
        cached = self.done.get(id(node))
        if cached is not None:
            return cached
        if isinstance(node, ScalarNode):
            out = self._scalar(node)
        elif isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise self._tag_error(node)
            inner = active + (id(node),)
            items = [self._node(v, inner) for v in node.value]
            out = YNode("seq", self.span(node), seq=items, data=[i.data for i in items])
        elif isinstance(node, MappingNode):
            if node.tag != _MAP:
                raise self._tag_error(node)
            out = self._mapping(node, active + (id(node),))
        else:  # pragma: no cover - ruamel composes only these three
            raise _LoadError(error("E0111", "unsupported YAML node", self.span(node)))
        self.done[id(node)] = out
        return out

    def _scalar(self, node) -> YNode:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            raise self._tag_error(node)
        span = self.span(node)
        raw = node.value
        start = node.start_mark.index
        self.scalar_ranges.append((start, max(self._end(node), start + 1)))
        if tag == _STR or tag == _TIMESTAMP:
            value: Any = raw
            text = raw
        elif tag == _NULL:
            value, text = None, raw
        elif tag == _BOOL:
            value = raw.lower() in ("true", "yes", "on", "y")
            text = "true" if value else "false"
        else:
            value = _number(raw, tag)
            text = raw
            if value is None:
                shown = f"`{raw}`" if len(raw) <= 40 else f"`{raw[:20]}...` ({len(raw)} characters)"
                raise _LoadError(error("E0111", f"{shown} is not a number YAML can read", span,
                                       help="a number has at most 4300 digits" if len(raw) > 4300 else None))
        smap = _ScalarMap(text, start, self._end(node), node.style, self.lines)
        return YNode("scalar", span, value=value, text=text, smap=smap, data=value)

    def _key_text(self, k) -> str:
        from ruamel.yaml.nodes import ScalarNode

        if not isinstance(k, ScalarNode):
            raise _LoadError(error("E0111", "a key must be plain text, not a list or a mapping",
                                   self.span(k)))
        if k.tag not in _SCALAR_TAGS:
            raise self._tag_error(k)
        return k.value  # as written: `on`, `yes` or `1` are keys, whatever the YAML version

    def _mapping(self, node, active: tuple) -> YNode:
        items: dict[str, tuple[YNode, YNode]] = {}
        pairs: list[tuple[Any, Any]] = []
        for k, v in node.value:
            if k.tag == _MERGE:
                sources = v.value if v.tag == _SEQ else [v]
                for src in sources:
                    if getattr(src, "tag", None) != _MAP:
                        raise _LoadError(error("E0111", "a merge key `<<` takes a mapping or a list of "
                                                        "mappings", self.span(v)))
                    pairs.extend((mk, mv, True) for mk, mv in src.value)
                continue
            pairs.append((k, v, False))
        explicit = {self._key_text(k) for k, _v, merged in pairs if not merged}
        for k, v, merged in pairs:
            name = self._key_text(k)
            if merged and (name in explicit or name in items):
                continue  # an explicit key wins over a merged one
            if name in items:
                first = items[name][0]
                raise _LoadError(error(
                    "E0111", f"key `{name}` is given twice in this mapping", self.span(k),
                    labels=(Label(first.span, "first given here"),), help=f"keep one `{name}`"))
            self.scalar_ranges.append((k.start_mark.index, self._end(k)))
            key = YNode("scalar", self.span(k), value=name, text=name,
                        smap=_ScalarMap(name, k.start_mark.index, self._end(k), k.style, self.lines),
                        data=name)
            items[name] = (key, self._node(v, active))
        return YNode("map", self.span(node), items=items,
                     data={n: pair[1].data for n, pair in items.items()})


def _number(raw: str, tag: str) -> int | float | None:
    s = raw.replace("_", "")
    try:
        if tag == _INT:
            if s.lower().startswith(("0o", "-0o", "+0o")):
                return int(s.replace("o", "").replace("O", ""), 8)
            return int(s, 0) if s.lower().startswith(("0x", "-0x", "+0x", "0b")) else int(s)
        low = s.lower()
        if low in (".inf", "+.inf"):
            return float("inf")
        if low == "-.inf":
            return float("-inf")
        if low == ".nan":
            return float("nan")
        return float(s)
    except ValueError:
        return None


def _misindented(text: str, line: int):
    """Where a `key: value` line was indented wrongly, when YAML finds a mapping value at `line`
    (0-based) because that line is indented under a plain value above it: that line, or the one
    above it when that one alone is out of step with its neighbours (YAML only notices a line
    late). A function of the path giving (span, problem, labels, help); None otherwise."""
    lines = text.split("\n")
    if not 0 < line < len(lines) or ":" not in lines[line]:
        return None
    above = [j for j in range(line - 1, -1, -1) if _content(lines[j])][:2]
    if not above or _indent(lines[line]) <= _indent(lines[above[0]]):
        return None

    def key(j: int) -> str:
        return _key(lines[j])

    p = above[0]
    if len(above) == 2 and _indent(lines[above[1]]) == _indent(lines[line]):
        bad, width, good = p, _indent(lines[line]), line
        problem = f"`{key(p)}` is indented less than the lines around it"
        label = f"so this line reads as inside the value of `{key(p)}`"
    else:
        bad, width, good = line, _indent(lines[p]), p
        problem = f"`{key(line)}` is indented more than `{key(p)}` above it, whose value is not a mapping"
        label = f"`{key(p)}` is here"

    return _pointing(lines, bad, good, problem, label, f"indent `{key(bad)}` by {width} spaces, as the keys beside it")


def _key(line: str) -> str:
    return line.strip().lstrip("- ").split(":", 1)[0].strip()


def _pointing(lines: list[str], bad: int, good: int, problem: str, label: str, help: str):
    """A function of the path giving (span, problem, labels, help): the key of line `bad`, with
    `label` on the key of line `good`."""
    def at(path: str):
        col, other = _indent(lines[bad]) + 1, _indent(lines[good]) + 1
        return (Span(path, bad + 1, col, bad + 1, col + len(_key(lines[bad]))), problem,
                (Label(Span(path, good + 1, other, good + 1, other + len(_key(lines[good]))), label),), help)
    return at


def _unaligned(text: str, line: int):
    """Where a key lines up with no mapping open above it (YAML finds it at `line`, 0-based, the
    line that closes the block): that line, or the one above it when that one alone is out of
    the file's indentation step (YAML only notices a line late). As `_misindented`."""
    lines = text.split("\n")
    content = [j for j in range(len(lines)) if _content(lines[j])]
    above = [j for j in reversed(content) if j < line]
    if not above or not 0 <= line < len(lines) or _indent(lines[line]) >= _indent(lines[above[0]]):
        return None
    p = above[0]
    parent = next((j for j in above if _indent(lines[j]) < _indent(lines[line])), None)
    step = next((_indent(lines[j]) for j in content if _indent(lines[j]) > 0), 2)
    base = _indent(lines[parent]) if parent is not None else 0

    def key(j: int) -> str:
        return _key(lines[j])

    if _indent(lines[p]) - base != step and _indent(lines[line]) - base == step:
        bad, good = p, line
        problem = f"`{key(p)}` is not lined up with the keys after it"
    else:
        bad, good = line, p
        problem = f"`{key(line)}` is not lined up with the keys before it"

    return _pointing(lines, bad, good, problem, f"`{key(good)}` is here",
                     f"indent `{key(bad)}` by {_indent(lines[good])} spaces, as `{key(good)}`")


def _compose(text: str, path: str, lines: _Lines):
    """The root node, or raises _LoadError with ruamel's position."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe", pure=True)  # compose only: no tag ever constructs an object
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return yaml.compose(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
            span = Span(path, line, col, line, col + 1)
        else:
            span = Span(path, 1, 1, 1, 1)
        problem = (e.problem or e.context or "not valid YAML").strip()
        if problem.startswith("but ") and e.context:
            problem = f"{e.context.strip()}, {problem}"
        labels: tuple[Label, ...] = ()
        if e.context and e.context_mark is not None and e.problem_mark is not None:
            cm = e.context_mark
            if (cm.line, cm.column) != (e.problem_mark.line, e.problem_mark.column):
                labels = (Label(Span(path, cm.line + 1, cm.column + 1, cm.line + 1, cm.column + 2),
                                e.context.strip()),)
        help = None
        misplaced = None
        if mark is not None and problem.startswith("mapping values are not allowed"):
            misplaced = _misindented(text, mark.line)
        elif mark is not None and problem.startswith("expected <block end>, but found"):
            misplaced = _unaligned(text, mark.line)
        if misplaced is not None:
            span, problem, labels, help = misplaced(path)
        elif "\\t" in problem:
            help = "indent YAML with spaces, not tabs"
        elif "another document" in problem:
            help = "a .flow.yaml file holds one document: remove the `---` line and what follows, " \
                   "or move it to a file of its own"
        raise _LoadError(error("E0111", f"malformed YAML: {problem}", span, labels=labels,
                               help=help)) from None
    except YAMLError as e:  # a problem without a mark
        raise _LoadError(error("E0111", f"malformed YAML: {e}", Span(path, 1, 1, 1, 1))) from None
    except RecursionError:
        raise _LoadError(error("E0111", "malformed YAML: nested too deeply", Span(path, 1, 1, 1, 1))) from None


# ---------------------------------------------------------------- schema errors -> diagnostics
_SECTION_WORDS = {"envs": "env", "connectors": "connector", "sources": "source", "entities": "entity",
                  "features": "feature group", "models": "model", "signals": "signal", "artifacts": "artifact", "flows": "flow",
                  "slos": "slo", "runtimes": "runtime"}
_NESTED_WORDS = {("flows", "steps"): "step", ("flows", "params"): "param", ("features", "features"): "feature",
                 ("connectors", "env"): "env parameter", ("connectors", "source"): "source parameter",
                 ("envs", "bindings"): "binding"}


def _describe(path: tuple) -> str:
    """`step `train``, "`arrives` of source `plays`", "the document"."""
    if not path:
        return "the document"
    if path[0] == "imports" and len(path) >= 2:
        rest = path[2:]
        base = f"import {path[1] + 1}" if isinstance(path[1], int) else "`imports`"
    elif path[0] in _SECTION_WORDS and len(path) >= 2:
        base = f"{_SECTION_WORDS[path[0]]} `{path[1]}`"
        rest = path[2:]
        if len(path) >= 4 and (path[0], path[2]) in _NESTED_WORDS:
            base = f"{_NESTED_WORDS[(path[0], path[2])]} `{path[3]}`"
            rest = path[4:]
    else:
        base, rest = "", path
    if not rest:
        return base
    where = "`" + ".".join(str(p) for p in rest if not isinstance(p, int)) + "`"
    index = next((p for p in reversed(rest) if isinstance(p, int)), None)
    if index is not None:
        where = f"item {index + 1} of {where}"
    return f"{where} of {base}" if base else where


def _unwrap(ann) -> tuple[Any, list]:
    meta: list = []
    while typing.get_origin(ann) is typing.Annotated:
        args = typing.get_args(ann)
        ann, meta = args[0], list(args[1:]) + meta
    return ann, meta


def _tags(ann) -> dict[str, Any] | None:
    """Tag -> member annotation of a discriminated union, else None."""
    from pydantic import Discriminator, Tag

    base, meta = _unwrap(ann)
    if not any(isinstance(m, Discriminator) for m in meta):
        return None
    out = {}
    for member in typing.get_args(base):
        _b, m = _unwrap(member)
        tag = next((x.tag for x in m if isinstance(x, Tag)), None)
        if tag is not None:
            out[tag] = member
    return out


def _child(ann, element) -> Any:
    from pydantic import BaseModel

    base, _meta = _unwrap(ann)
    if isinstance(base, type) and issubclass(base, BaseModel):
        for name, f in base.model_fields.items():
            if (f.alias or name) == element:
                return f.annotation if not f.metadata else typing.Annotated[(f.annotation, *f.metadata)]
        return None
    origin = typing.get_origin(base)
    if origin is dict:
        return typing.get_args(base)[1]
    if origin is list:
        return typing.get_args(base)[0]
    if origin is typing.Union or str(origin) == "types.UnionType":
        for member in typing.get_args(base):
            found = _child(member, element)
            if found is not None:
                return found
    return None


def _keys(ann) -> list[str]:
    from pydantic import BaseModel

    base, _ = _unwrap(ann)
    if isinstance(base, type) and issubclass(base, BaseModel):
        return [f.alias or n for n, f in base.model_fields.items()]
    if typing.get_origin(base) is typing.Union:
        return [k for m in typing.get_args(base) for k in _keys(m)]
    return []


def _words(ann) -> str:
    from pydantic import BaseModel

    from mlc.dsl.yaml_schema import Words

    if ann is None:
        return "something else"
    tags = _tags(ann)
    if tags is not None:
        return " or ".join(dict.fromkeys(_words(m) for m in tags.values()))
    base, meta = _unwrap(ann)
    for m in meta:
        if isinstance(m, Words):
            return m.text
    if base is bool:
        return "true or false"
    if base is int:
        return "an integer"
    if base is float:
        return "a number"
    if base is str:
        return "text"
    if isinstance(base, type) and issubclass(base, BaseModel):
        return "a mapping"
    origin = typing.get_origin(base)
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(base))
    if origin is typing.Union:
        return " or ".join(dict.fromkeys(_words(m) for m in typing.get_args(base)))
    return "something else"


def _what_is(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _schema_diagnostics(root: YNode, errors: list[dict], path: str) -> tuple[list[Diagnostic], set[tuple]]:
    """E0112 for each pydantic error, at the YAML node its `loc` names; and the paths that failed."""
    from mlc.dsl.yaml_schema import Document

    out: list[Diagnostic] = []
    bad: set[tuple] = set()
    seen: set[tuple] = set()
    for err in errors:
        ann: Any = Document
        parent_ann: Any = None
        ypath: list = []
        node, key_node = root, None
        is_key = False
        for el in err["loc"]:
            tags = _tags(ann) if ann is not None else None
            if tags is not None and el in tags:
                ann = tags[el]
                continue
            if el == "[key]":
                is_key = True
                continue
            parent_ann = ann
            ann = _child(ann, el) if ann is not None else None
            ypath.append(el)
            if node is not None and node.kind == "map" and isinstance(el, str) and el in node.items:
                key_node, node = node.items[el]
            elif node is not None and node.kind == "seq" and isinstance(el, int) and el < len(node.seq):
                key_node, node = None, node.seq[el]
            else:
                node = None
        bad.add(tuple(ypath[:2]) if ypath and ypath[0] in _SECTION_WORDS else tuple(ypath[:1]))
        diag = _schema_error(err, tuple(ypath), ann, parent_ann, node, key_node, is_key, root, path)
        key = (diag.message, diag.span)
        if key not in seen:
            seen.add(key)
            out.append(diag)
        if len(out) >= MAX_ERRORS:
            break
    return out, bad


def _locate(root: YNode, ypath: tuple) -> tuple[YNode | None, YNode | None]:
    node, key = root, None
    for el in ypath:
        if node is None:
            break
        if node.kind == "map" and isinstance(el, str) and el in node.items:
            key, node = node.items[el]
        elif node.kind == "seq" and isinstance(el, int) and el < len(node.seq):
            key, node = None, node.seq[el]
        else:
            return None, None
    return key, node


def _schema_error(err: dict, ypath: tuple, ann, parent_ann, node: YNode | None, key_node: YNode | None,
                  is_key: bool, root: YNode, path: str) -> Diagnostic:
    kind = err["type"]
    value = err.get("input")
    last = ypath[-1] if ypath else None
    here = (key_node.span if key_node is not None else node.span) if node is not None else None
    parent_key, parent = _locate(root, ypath[:-1])
    parent_span = (parent_key.span if parent_key is not None else parent.span) if parent is not None else None
    fallback_span = here or parent_span or root.span or Span(path, 1, 1, 1, 1)
    help = None
    if kind == "extra_forbidden":
        owner = _describe(ypath[:-1])
        keys = _keys(parent_ann)
        hint = did_you_mean(str(last), keys)
        where = "top-level key" if not ypath[:-1] else "key"
        message = f"unknown {where} `{last}`" + (f" in {owner}" if ypath[:-1] else "")
        if hint:
            message += f"; {hint}"
        if keys:
            help = "the keys here are " + ", ".join(f"`{k}`" for k in keys)
        if ypath[:1] == ("envs",) and len(ypath) == 3:
            help = "an env with a `doc` lists its connectors under `bindings`"
        return error("E0112", message, fallback_span, help=help)
    if kind == "missing":
        owner = _describe(ypath[:-1])
        span = parent_span or fallback_span
        return error("E0112", f"{owner} needs `{last}`", span,
                     help=f"add `{last}:` with {_words(ann)}")
    if is_key:
        span = key_node.span if key_node is not None else fallback_span
        return error("E0112", f"`{last}` is not a valid name here", span,
                     help="names are letters, digits and `_`, not starting with a digit")
    what = _describe(ypath)
    if node is not None and value is not None and node.span.line > 0:
        fallback_span = node.span  # point at the value itself
    if kind == "literal_error":
        options = [str(o) for o in typing.get_args(_unwrap(ann)[0])] if ann is not None else []
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        return error("E0112", f"{what} must be {_words(ann)}, not `{value}`", fallback_span, help=hint)
    if kind in ("too_short", "too_long"):
        if ypath[-1:] == ("output",):
            message = f"{what} takes exactly one `name: type`"
        else:
            message = f"{what} must not be empty"
        return error("E0112", message, fallback_span)
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return error("E0112", f"{what}: {msg}", fallback_span)
    if kind == "string_pattern_mismatch":
        return error("E0112", f"{what} must be {_words(ann)}, not `{value}`", fallback_span)
    if kind == "string_too_short":
        return error("E0112", f"{what} is empty: it must be {_words(ann)}", fallback_span)
    # a value of the wrong type
    return error("E0112", f"{what} must be {_words(ann)}, not {_what_is(value)}", fallback_span)


# ---------------------------------------------------------------- scalars in .flow syntax
class _ScalarBuilder(AstBuilder):
    """The .flow AST builder, with token positions mapped into the YAML scalar being parsed."""

    def __init__(self, kept: frozenset[str]) -> None:
        super().__init__(kept)
        self.smap: _ScalarMap | None = None
        self.prefix = 0

    def _tok_span(self, t: Token) -> Span:
        start = (t.start_pos or 0) - self.prefix
        end = (t.end_pos or 0) - self.prefix
        if end <= 0:
            return self.smap.span(self.file, 0, 0)
        return self.smap.span(self.file, max(start, 0), end)


class _FlowSyntax:
    def __init__(self) -> None:
        from mlc.dsl.parser import grammar_text, named_terminals

        grammar = grammar_text()
        self.builder = _ScalarBuilder(named_terminals(grammar))
        self.lark = Lark(grammar, parser="lalr", lexer="contextual", keep_all_tokens=True,
                         maybe_placeholders=False, transformer=self.builder, cache=True, start=_STARTS)


@lru_cache(maxsize=1)
def _syntax() -> _FlowSyntax:
    return _FlowSyntax()


_STRING_HELP = ('this value is .flow syntax: a .flow string keeps its double quotes inside the YAML '
                'scalar, e.g. \'"build/out.log"\'')


class _Builder:
    """Validated YNodes -> AST declarations."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.syntax = _syntax()

    # -------------------------------------------------------------- spans and plain values
    def join(self, a: Span, b: Span) -> Span:
        return Span(self.path, a.line, a.col, b.end_line, b.end_col)

    def name(self, n: YNode) -> A.Name:
        return A.Name(str(n.value), n.span)

    def dotted(self, n: YNode) -> A.Ref:
        return A.Ref(tuple(str(n.value).split(".")), n.span)

    def duration(self, n: YNode | None) -> A.Literal | None:
        if n is None:
            return None
        return A.Literal("duration", duration_ms(n.value), n.value, n.span)

    def string(self, n: YNode) -> A.Literal:
        return A.Literal("string", n.value, json.dumps(n.value), n.span)

    def int_(self, n: YNode) -> A.Literal:
        return A.Literal("int", n.value, n.text, n.span)

    def bool_(self, n: YNode) -> A.Literal:
        return A.Literal("bool", bool(n.value), "true" if n.value else "false", n.span)

    def meta(self, m: YNode) -> A.Meta:
        meta = A.Meta()
        doc = m.get("doc")
        if doc is not None:
            meta.doc = "\n".join(line.strip() for line in str(doc.value).strip().split("\n"))
        owner = m.get("owner")
        if owner is not None:
            meta.owner = self.string(owner)
        tags = m.get("tags")
        if tags is not None and tags.kind == "map":
            meta.tag_values = tuple((self.string(k), self.string(v)) for k, v in tags.items.values())
        elif tags is not None:
            meta.tags = tuple(self.string(t) for t in tags.seq)
        desc = m.get("description")
        if desc is not None:
            meta.description = self.string(desc)
        return meta

    # -------------------------------------------------------------- .flow syntax
    def parse(self, n: YNode, start: str, what: str, prefix: str = "", strings_help: bool = False):
        s = self.syntax
        b = s.builder
        b.file, b.line_offset, b.diagnostics = self.path, 0, []
        b.smap, b.prefix = n.smap, len(prefix)
        text = prefix + n.text
        try:
            result = s.lark.parse(text, start=start)
        except UnexpectedInput as e:
            self.diagnostics.append(self._syntax_error(e, n, text, len(prefix), what, strings_help))
            return None
        except RecursionError:
            self.diagnostics.append(error("E0113", f"{what} is nested too deeply", n.span))
            return None
        self.diagnostics.extend(b.diagnostics)
        return result

    def _syntax_error(self, e: UnexpectedInput, n: YNode, text: str, prefix: int, what: str,
                      strings_help: bool) -> Diagnostic:
        from mlc.dsl.syntax_errors import terminal_words

        smap = n.smap
        token = getattr(e, "token", None)
        if isinstance(e, UnexpectedCharacters):
            ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
            i = max(e.pos_in_stream - prefix, 0)
            span = smap.span(self.path, i, i + 1)
            message = f"invalid {what}: unexpected character `{ch}`"
            if ch == "'":
                help = 'a .flow string takes double quotes: "like this"'
            elif ch == '"':
                help = "the string is not closed"
            elif strings_help and ch not in "()[]{}.,=<>!+-*/":
                help = _STRING_HELP
            else:
                help = None
            within = f"in `{n.text}`" if "\n" not in n.text and len(n.text) <= 120 else None
            return error("E0113", message, span, help=help, notes=tuple(x for x in (within,) if x))
        expected = sorted({terminal_words(self.syntax.lark, x) for x in (getattr(e, "expected", None) or ())
                           if x != "$END"})
        note = None
        if len(expected) == 1:
            note = f"expected {expected[0]}"
        elif expected:
            note = "expected one of " + ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
        within = f"in `{n.text}`" if "\n" not in n.text and len(n.text) <= 120 else None
        if isinstance(e, UnexpectedEOF) or token is None or token.type == "$END":
            end = smap.length
            span = smap.span(self.path, end, end)
            return error("E0113", f"incomplete {what}: `{n.text}` ends too early", span,
                         notes=tuple(x for x in (note,) if x))
        assert isinstance(e, UnexpectedToken)
        i = max((token.start_pos or 0) - prefix, 0)
        j = max((token.end_pos or 0) - prefix, i + 1)
        span = smap.span(self.path, i, j)
        shown = f"name `{token}`" if token.type == "NAME" else f"`{token}`"
        help = None
        if strings_help and token.type in ("NAME", "INT", "FLOAT", "DURATION", "SIZE") \
                and not n.text.lstrip().startswith('"'):
            help = _STRING_HELP  # two words in a row: most likely text meant as a .flow string
        return error("E0113", f"invalid {what}: unexpected {shown}", span,
                     notes=tuple(x for x in (note, within) if x), help=help)

    def expr(self, n: YNode | None):
        if n is None:
            return None
        return self.parse(n, "expr", "expression", strings_help=True)

    def value(self, n: YNode):
        return self.parse(n, "value", "value", strings_help=True)

    def call(self, n: YNode | None) -> A.Call | None:
        if n is None:
            return None
        return self.parse(n, "call", "call")

    def type_(self, n: YNode) -> A.TypeRef | None:
        return self.parse(n, "type", "type")

    def item(self, n: YNode, start: str, keyword: str, prefix: str, what: str, strings_help: bool = False):
        """Parses a clause written without its keyword; returns its value, or None."""
        got = self.parse(n, start, what, prefix=prefix, strings_help=strings_help)
        if got is None:
            return None
        if not (isinstance(got, tuple) and got[0] == keyword):
            self.diagnostics.append(error("E0113", f"invalid {what}: `{n.text}`", n.span))
            return None
        return got[1]

    def field(self, key: YNode, val: YNode) -> A.Field | None:
        """`name: 'type ["description"]'`: a field, as `name: type "description"` in .flow."""
        got = self.parse(val, "field", "type", prefix="_: ")
        if got is None:
            return None
        f = got[1]
        return A.Field(self.name(key), f.type, self.join(key.span, val.span), f.description)

    def fields(self, m: YNode | None) -> tuple[A.Field, ...]:
        if m is None:
            return ()
        return tuple(f for key, val in m.items.values() if (f := self.field(key, val)) is not None)

    def settings(self, m: YNode | None) -> tuple[A.Setting, ...] | None:
        """A small block of settings (`on_demand`, `label_view`, `feature_store`) as .flow settings."""
        if m is None:
            return None
        out = []
        for k, v in m.items.values():
            if v.kind == "seq":
                items = tuple(self.dotted(i) for i in v.seq)
                x = A.ListExpr(items, v.span)
            elif isinstance(v.value, bool):
                x = self.bool_(v)
            elif k.value == "registry":
                x = self.string(v)
            elif k.value == "online":
                x = self.call(v)
            else:
                x = self.dotted(v)
            if x is not None:
                out.append(A.Setting(self.name(k), x, self.join(k.span, v.span)))
        return tuple(out)

    # -------------------------------------------------------------- clause order
    def clauses(self, kind: str, val: YNode) -> tuple[tuple[str, Span], ...]:
        if val.kind != "map":
            return ()
        table = CLAUSES[kind]
        out: list[tuple[str, Span]] = []
        for yk, (k, v) in val.items.items():
            if yk in table:
                ck = table[yk]
            elif yk in META_CLAUSES:
                ck = META_CLAUSES[yk]
            else:
                continue
            if (yk, v.kind) == ("tags", "map"):
                ck = "tag_values"
            elif kind == "features" and yk == "request" and v.kind != "map":
                ck = "*request_source"  # `request: vals` names request sources
            if ck is None:  # entity key, features
                if kind == "entity":
                    out.append(("composite_key" if v.kind == "map" and len(v.items) > 1 else "key",
                                self.join(k.span, v.span)))
                else:
                    for fk, fv in (v.items.values() if v.kind == "map" else ()):
                        derived = fv.kind == "map" and fv.get("expr") is not None
                        out.append(("derived" if derived else "column", self.join(fk.span, fv.span)))
                continue
            if ck.startswith("*"):
                if v.kind == "map":
                    out.extend((ck[1:], self.join(ik.span, iv.span)) for ik, iv in v.items.values())
                elif v.kind == "seq":
                    out.extend((ck[1:], i.span) for i in v.seq)
                else:
                    out.append((ck[1:], v.span))
                continue
            out.append((ck, self.join(k.span, v.span)))
        return tuple(out)

    def env_clauses(self, val: YNode) -> tuple[tuple[str, Span], ...]:
        if "bindings" in val.items or "doc" in val.items:
            return self.clauses("env", val)
        return tuple(("binding", self.join(k.span, v.span)) for k, v in val.items.values())

    # -------------------------------------------------------------- declarations
    def package(self, key: YNode, val: YNode) -> A.PackageDecl:
        return A.PackageDecl(A.Name(val.value, val.span), self.join(key.span, val.span), A.Meta())

    def imports(self, val: YNode) -> list[A.ImportDecl]:
        out = []
        for item in val.seq:
            if item.kind == "scalar":
                d = self.parse(item, "import_decl", "import", prefix="import ")
                if d is not None:
                    d.span = item.span
                    out.append(d)
                continue
            module = item.get("module")
            ref = self.dotted(module)
            members = item.get("members")
            alias = item.get("as")
            meta = A.Meta()
            if item.get("doc") is not None:
                meta = self.meta(item)
            out.append(A.ImportDecl(A.Name(ref.dotted, ref.span), item.span, meta, module=ref,
                                    members=tuple(self.name(m) for m in members.seq) if members else (),
                                    alias=self.name(alias) if alias is not None else None))
        return out

    def env(self, key: YNode, val: YNode) -> A.EnvDecl:
        bindings = val.get("bindings") if "bindings" in val.items or "doc" in val.items else val
        meta = A.Meta()
        if bindings is not val:
            meta = self.meta(val)
        out = []
        for k, v in (bindings.items.values() if bindings is not None else ()):
            c = self.call(v)
            if c is not None:
                out.append(A.Binding(self.name(k), c, self.join(k.span, v.span)))
        store = val.get("feature_store") if bindings is not val else None
        return A.EnvDecl(self.name(key), self.join(key.span, val.span), meta, bindings=tuple(out),
                         feature_store=self.settings(store),
                         feature_store_span=self.join(val.key("feature_store").span, store.span) if store else None)

    def _param_field(self, key: YNode, val: YNode, cls):
        """`name: "type [= default]"` or `name: {type, default}` -> ParamField / Param."""
        span = self.join(key.span, val.span)
        if val.kind == "scalar":
            if cls is A.ParamField:
                got = self.parse(val, "param_field", "parameter", prefix="_: ", strings_help=True)
            else:
                got = self.item(val, "flow_item", "param", "param _: ", "parameter", strings_help=True)
            if got is None:
                return None
            return cls(self.name(key), got.type, got.default, span)
        t = self.type_(val.get("type"))
        d = val.get("default")
        default = self.value(d) if d is not None else None
        if t is None or (d is not None and default is None):
            return None
        return cls(self.name(key), t, default, span)

    def connector(self, key: YNode, val: YNode) -> A.ConnectorDecl:
        def params(m: YNode | None):
            if m is None:
                return ()
            return tuple(p for k, v in m.items.values()
                         if (p := self._param_field(k, v, A.ParamField)) is not None)
        kinds = val.get("kinds")
        return A.ConnectorDecl(self.name(key), self.join(key.span, val.span), self.meta(val),
                               kinds=tuple(self.name(k) for k in kinds.seq) if kinds else (),
                               env_params=params(val.get("env")), source_params=params(val.get("source")))

    def source(self, key: YNode, val: YNode) -> A.SourceDecl | None:
        kind = val.get("kind").value
        call = self.call(val.get("connector"))
        if call is None and kind in ("stream", "table"):
            if val.get("connector") is None:
                self.diagnostics.append(error("E0112", f"source `{key.value}` needs `connector`", key.span,
                                              help=f"a {kind} source reads through a connector: `connector: "
                                                   "hive(table = \"db.t\")`"))
            return None
        arrives = val.get("arrives")
        event_time, created, batch = val.get("event_time"), val.get("created_time"), val.get("batch")
        return A.SourceDecl(
            self.name(key), self.join(key.span, val.span), self.meta(val),
            source_kind=kind, connector=call, schema=self.fields(val.get("schema")),
            created_time=self.name(created) if created is not None else None,
            batch=self.name(batch) if batch is not None else None,
            event_time=self.name(event_time) if event_time is not None else None,
            watermark=self.duration(val.get("watermark")),
            arrives_every=self.duration(arrives.get("every")) if arrives else None,
            arrives_delay=self.duration(arrives.get("delay")) if arrives else None)

    def entity(self, key: YNode, val: YNode) -> A.EntityDecl:
        keys = self.fields(val.get("key"))
        return A.EntityDecl(self.name(key), self.join(key.span, val.span), self.meta(val),
                            keys=keys, composite=len(keys) > 1)

    def features(self, key: YNode, val: YNode) -> A.FeaturesDecl:
        columns, derived = [], []
        feats = val.get("features")
        for k, v in (feats.items.values() if feats is not None else ()):
            span = self.join(k.span, v.span)
            if v.kind == "scalar":
                f = self.field(k, v)
                if f is not None:
                    columns.append(A.Column(self.name(k), f.type, span, f.description))
                continue
            tn = v.get("type")
            t = self.type_(tn) if tn is not None else None
            if v.get("expr") is None:
                if t is not None:
                    columns.append(A.Column(self.name(k), t, span))
                continue
            e = self.expr(v.get("expr"))
            if e is None or (tn is not None and t is None):
                continue
            over, every = v.get("over"), v.get("every")
            window = None
            if over is not None:
                window = A.Window(self.duration(over), self.duration(every),
                                  self.join(over.span, (every or over).span))
            desc = v.get("description")
            derived.append(A.Derived(self.name(k), t, e, window, span, self.string(desc) if desc is not None else None))
        src = val.get("from")
        sources = () if src is None else tuple(
            self.dotted(s) for s in (src.seq if src.kind == "seq" else [src]))
        online = val.get("online")
        online_node = None
        if online is not None:
            if online.kind == "map":
                online_node = A.Online(self.duration(online.get("ttl")), online.span)
            else:
                online_node = A.Online(None, online.span, bool(online.value))
        fresh = val.get("freshness")
        sched = val.get("schedule")
        request = val.get("request")
        named = request is not None and request.kind != "map"
        reg = val.get("registered")
        od, lv = val.get("on_demand"), val.get("label_view")
        return A.FeaturesDecl(
            self.name(key), self.join(key.span, val.span), self.meta(val),
            entity=self.name(on) if (on := val.get("on")) is not None else None, sources=sources, columns=tuple(columns),
            derived=tuple(derived), request=self.fields(request) if not named else (),
            request_sources=tuple(self.name(r) for r in (request.seq if request.kind == "seq" else [request]))
            if named else (),
            ttl=self.duration(val.get("ttl")), registered=reg.span if reg is not None and reg.value else None,
            validate=vd.span if (vd := val.get("validate")) is not None and vd.value else None,
            version=self.string(vn) if (vn := val.get("version")) is not None else None,
            on_demand=self.settings(od), on_demand_span=self.join(val.key("on_demand").span, od.span) if od else None,
            label_view=self.settings(lv),
            label_view_span=self.join(val.key("label_view").span, lv.span) if lv else None,
            checkpoint=self.duration(val.get("checkpoint")), online=online_node,
            offline=self.call(val.get("offline")),
            schedule=self.parse(sched, "schedule", "schedule") if sched is not None else None,
            timeout=self.duration(val.get("timeout")),
            freshness=self.item(fresh, "feature_item", "freshness", "freshness ", "freshness bound")
            if fresh is not None else None)

    def model(self, key: YNode, val: YNode) -> A.ModelDecl:
        det = val.get("deterministic")
        fw = val.get("framework")
        inputs = val.get("inputs")
        refs = []
        for i in (inputs.seq if inputs is not None else ()):
            r = self.parse(i, "feature_ref", "feature reference")
            if r is not None:
                refs.append(r)
        out = val.get("output")
        output = self.fields(out)[0] if out is not None and self.fields(out) else None
        conf = val.get("confidence")
        fb = val.get("fallback")
        fallback = None
        if fb is not None:
            if fb.kind == "scalar":
                fallback = self.item(fb, "model_item", "fallback", "fallback ", "fallback")
            else:
                when = fb.get("when")
                w = self.expr(when) if when is not None else None
                if when is None or w is not None:
                    fallback = A.Fallback(self.name(fb.get("model")), w, fb.span)
        serve = val.get("serve")
        settings = None
        if serve is not None:
            settings = tuple(A.Setting(self.name(k), x, self.join(k.span, v.span))
                             for k, v in serve.items.values() if (x := self.value(v)) is not None)
        return A.ModelDecl(
            self.name(key), self.join(key.span, val.span), self.meta(val),
            determinism=A.Name("deterministic" if det.value else "nondeterministic", det.span)
            if det is not None else None,
            framework=self.name(fw) if fw is not None else None, inputs=tuple(refs), output=output,
            confidence=self.parse(conf, "range", "range") if conf is not None else None,
            fallback=fallback, serve=settings,
            serve_span=self.join(val.key("serve").span, serve.span) if serve is not None else None,
            service=self.name(val.get("service")) if val.get("service") is not None else None,
            labels=self.parse(val.get("labels"), "feature_ref", "feature reference")
            if val.get("labels") is not None else None)

    def service(self, key: YNode, val: YNode) -> A.ServiceDecl:
        feats = val.get("features")
        refs = [r for i in (feats.seq if feats is not None else ())
                if (r := self.parse(i, "feature_ref", "feature reference")) is not None]
        logging = val.get("logging")
        model = val.get("for")
        return A.ServiceDecl(
            self.name(key), self.join(key.span, val.span), self.meta(val),
            model=self.name(model) if model is not None else None, features=tuple(refs),
            logging=self.item(logging, "service_item", "logging", "logging ", "log destination")
            if logging is not None else None)

    def signal(self, key: YNode, val: YNode) -> A.SignalDecl:
        ext = val.get("external")
        uri = val.get("uri")
        return A.SignalDecl(self.name(key), self.join(key.span, val.span), self.meta(val),
                            external=bool(ext.value) if ext is not None else False,
                            fields=self.fields(val.get("fields")),
                            uri=self.string(uri) if uri is not None else None)

    def artifact(self, key: YNode, val: YNode) -> A.ArtifactDecl | None:
        call = self.call(val.get("location"))
        if call is None:
            return None
        kind, partition = val.get("kind"), val.get("partition")
        return A.ArtifactDecl(self.name(key), self.join(key.span, val.span), self.meta(val),
                              artifact_kind=self.name(kind), location=call, schema=self.fields(val.get("schema")),
                              partition=self.name(partition) if partition is not None else None)

    def _names(self, v: YNode | None) -> tuple[A.Name, ...]:
        """A name or a list of names (`reads: training_set`, `match: [ds, region]`)."""
        return tuple(self.name(u) for u in (v.seq if v.kind == "seq" else [v])) if v is not None else ()

    def defaults(self, key: YNode | None, val: YNode | None) -> A.StepDefaults | None:
        if key is None or val is None:
            return None
        g = val.get
        owner, retries = g("owner"), g("retries")
        return A.StepDefaults(
            self.join(key.span, val.span), retries=self.int_(retries) if retries is not None else None,
            retry_delay=self.duration(g("retry_delay")), timeout=self.duration(g("timeout")),
            owner=self.string(owner) if owner is not None else None,
            clauses=tuple((str(k.value), self.join(k.span, v.span)) for k, v in val.items.values()))

    def step(self, key: YNode, val: YNode) -> A.Step | None:
        span = self.join(key.span, val.span)
        if val.kind == "scalar":
            action = self.call(val)
            return A.Step(self.name(key), action, span, A.Meta()) if action is not None else None
        action = self.call(val.get("run"))
        if action is None:
            return None
        meta = self.meta(val)
        meta.clauses = self.clauses("step", val)
        g = val.get
        det = g("deterministic")
        uses = g("uses")
        emits = g("emits")
        foreach = g("foreach")
        resources = g("resources")
        env = g("env")
        step = A.Step(
            self.name(key), action, span, meta,
            retries=self.int_(g("retries")) if g("retries") is not None and g("retries").kind != "map" else None,
            retry_delay=self.duration(g("retry_delay")), timeout=self.duration(g("timeout")),
            resources=tuple(A.Setting(self.name(k), x, self.join(k.span, v.span))
                            for k, v in (resources.items.values() if resources else ())
                            if (x := self.value(v)) is not None),
            env=tuple(A.Arg(self.name(k), x, self.join(k.span, v.span))
                      for k, v in (env.items.values() if env else ()) if (x := self.expr(v)) is not None),
            determinism=A.Name("deterministic" if det.value else "nondeterministic", det.span)
            if det is not None else None,
            produces=self.name(g("produces")) if g("produces") is not None else None,
            uses=tuple(self.name(u) for u in (uses.seq if uses.kind == "seq" else [uses])) if uses else (),
            reads=self._names(g("reads")), writes=self._names(g("writes")),
            gate=self.expr(g("gate")),
            emits=tuple(x for e in ((emits.seq if emits.kind == "seq" else [emits]) if emits else ())
                        if (x := self.item(e, "step_item", "emits", "emits signal ", "signal emission"))
                        is not None),
            foreach=self.item(foreach, "step_item", "foreach", "foreach ", "loop") if foreach else None,
            when=self.expr(g("when")))
        self._step_policy(step, val)
        return step

    def _settings_of(self, m: YNode | None) -> tuple[A.Setting, ...] | None:
        if m is None or m.kind != "map":
            return None
        return tuple(A.Setting(self.name(k), x, self.join(k.span, v.span))
                     for k, v in m.items.values() if (x := self.value(v)) is not None)

    def _step_policy(self, step: A.Step, val: YNode) -> None:
        """A step's run policy (issue 19), as `StepSpec` spells it."""
        g = val.get
        if g("returns") is not None:
            step.returns = self.fields(g("returns"))
        step.retry_policy = self._settings_of(g("retries"))
        for key in ("on_failure", "runtime"):
            if g(key) is not None:
                setattr(step, key, self.name(g(key)))
        if g("parallel") is not None:
            step.parallel = self.int_(g("parallel"))

    def runtime(self, key: YNode, val: YNode) -> A.RuntimeDecl:
        settings = []
        for k, v in val.items.values():
            if k.value in META_CLAUSES or k.value == "doc":
                continue
            x = A.ListExpr(tuple(self.string(i) for i in v.seq), v.span) if v.kind == "seq" else self.string(v)
            settings.append(A.Setting(self.name(k), x, self.join(k.span, v.span)))
        return A.RuntimeDecl(self.name(key), self.join(key.span, val.span), self.meta(val), settings=tuple(settings))

    def flow(self, key: YNode, val: YNode) -> A.FlowDecl:
        g = val.get
        params = g("params")
        steps = g("steps")
        edges = g("edges")
        catchup = g("catchup")
        sched, trig = g("schedule"), g("trigger")
        start, end = g("start"), g("end")
        return A.FlowDecl(
            self.name(key), self.join(key.span, val.span), self.meta(val),
            schedule=self.parse(sched, "schedule", "schedule") if sched is not None else None,
            trigger=self.parse(trig, "trigger", "trigger") if trig is not None else None,
            match_keys=self._names(g("match")),
            params=tuple(p for k, v in (params.items.values() if params else ())
                         if (p := self._param_field(k, v, A.Param)) is not None),
            catchup=self.bool_(catchup) if catchup is not None else None,
            steps=tuple(s for k, v in (steps.items.values() if steps else ())
                        if (s := self.step(k, v)) is not None),
            edges=tuple(x for e in ((edges.seq if edges.kind == "seq" else [edges]) if edges else ())
                        if (x := self.item(e, "flow_item", "edge", "", "chain of steps")) is not None),
            start=self.string(start) if start is not None else None,
            end=self.string(end) if end is not None else None,
            defaults=self.defaults(val.key("defaults") if "defaults" in val.items else None, g("defaults")),
            runs=self.item(g("runs"), "flow_item", "runs", "runs ", "run policy") if g("runs") is not None else None,
            alert=self._settings_of(g("alert")))

    def slo(self, key: YNode, val: YNode) -> A.SloDecl | None:
        span = self.join(key.span, val.span)
        use = val.get("use")
        if use is not None:
            d = self.parse(use, "slo_decl", "template use", prefix="slo _ = ")
            if d is None or d.template is None:
                if d is not None:
                    self.diagnostics.append(error("E0113", "invalid template use: write `template(args)`",
                                                  use.span))
                return None
            return A.SloDecl(self.name(key), span, self.meta(val), template=d.template, args=d.args)
        params = val.get("params")
        objectives = val.get("objectives")
        objs = []
        for o in ((objectives.seq if objectives.kind == "seq" else [objectives]) if objectives else ()):
            got = self.parse(o, "slo_item", "objective")
            if got is None:
                continue
            if got[0] != "objective":
                self.diagnostics.append(error("E0113", f"invalid objective: `{o.text}`", o.span,
                                              help="write metadata as keys of the slo (`owner: ...`)"))
                continue
            objs.append(got[1])
        return A.SloDecl(self.name(key), span, self.meta(val),
                         params=tuple(self.name(p) for p in params.seq) if params else (),
                         objectives=tuple(objs))


# YAML key -> the .flow clause it is (as `Meta.clauses` names them, in document order: the
# formatter prints a YAML-built module's clauses in the order the YAML wrote them).
# "*name": one clause per item of the value.
META_CLAUSES = {"owner": "owner", "tags": "tags", "description": "description"}
CLAUSES = {
    "connector": {"kinds": "kinds", "env": "env", "source": "source"},
    "env": {"bindings": "*binding"},
    "source": {"schema": "schema", "batch": "batch", "event_time": "event_time", "created_time": "created_time",
               "watermark": "watermark", "arrives": "arrives"},
    "entity": {"key": None},
    "features": {"from": "*from", "request": "request", "features": None, "checkpoint": "checkpoint",
                 "schedule": "schedule", "timeout": "timeout", "online": "online", "offline": "offline",
                 "freshness": "freshness", "registered": "registered", "ttl": "ttl", "on_demand": "on_demand",
                 "label_view": "label_view", "validate": "validate", "version": "version"},
    "model": {"framework": "framework", "inputs": "inputs", "output": "output", "confidence": "confidence",
              "fallback": "fallback", "serve": "serve", "service": "service", "labels": "labels"},
    "service": {"features": "features", "logging": "logging"},
    "signal": {"uri": "uri", "fields": "*field"},
    "artifact": {"schema": "schema", "partition": "partition"},
    "flow": {"schedule": "schedule", "trigger": "trigger", "start": "start", "end": "end", "catchup": "catchup",
             "defaults": "defaults", "params": "*param", "runs": "runs", "alert": "alert",
             "steps": "*step", "edges": "*edge"},
    "step": {"foreach": "foreach", "when": "when", "deterministic": "determinism", "produces": "produces",
             "uses": "*uses", "reads": "*reads", "writes": "*writes", "gate": "gate", "emits": "*emits", "retries": "retries",
             "retry_delay": "retry_delay", "timeout": "timeout", "resources": "resources", "env": "env",
             "returns": "returns", "on_failure": "on_failure", "runtime": "runtime", "parallel": "parallel"},
    "runtime": {},  # its keys are settings, kept in the order written
    "slo": {"objectives": "*objective"},
}


_DECL_BUILDERS = {"connectors": "connector", "envs": "env", "sources": "source", "entities": "entity",
                  "features": "features", "models": "model", "services": "service", "signals": "signal", "flows": "flow",
                  "slos": "slo", "runtimes": "runtime", "artifacts": "artifact"}


def _comments(text: str, path: str, ranges: list[tuple[int, int]], lines: _Lines) -> list[A.Comment]:
    """YAML comments (a `#` at a line start or after a space, outside any scalar)."""
    if "#" not in text:
        return []
    ranges = sorted(ranges)
    starts = [r[0] for r in ranges]
    out = []
    index = 0
    split = text.split("\n")
    # `##` lines above `package:` are the package's doc comment, kept as they are (a .flow
    # `## ...` above `package` is written so; converted back, it is that doc comment again)
    package_line = next((i for i, line in enumerate(split) if line.startswith("package:")), -1)
    for number, line in enumerate(split):
        pos = 0
        while True:
            pos = line.find("#", pos)
            if pos < 0:
                break
            at = index + pos
            if pos == 0 or line[pos - 1] in " \t":
                k = bisect.bisect_right(starts, at) - 1
                if k < 0 or not (ranges[k][0] <= at < ranges[k][1]):
                    body = line[pos:].rstrip()
                    if body.startswith("##") and number >= package_line:  # YAML docs are `doc:` keys
                        body = "# " + body.lstrip("#").strip()
                    ln, col = lines.at(at)
                    out.append(A.Comment(body, Span(path, ln, col, ln, col + len(line[pos:].rstrip()))))
                    break
            pos += 1
        index += len(line) + 1
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    """Whether a line holds YAML content (not blank, not only a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _declaration_at(text: str, line: int) -> tuple[tuple[int, int], tuple[str, str]] | None:
    """The lines [start, end) (0-based) of the declaration in block style that holds line `line`
    (1-based), `name:` under a section such as `flows:`, and its (kind, name); None when the
    line is not inside one."""
    lines = text.split("\n")
    i = min(line, len(lines)) - 1
    if i < 0:
        return None
    section = next((j for j in range(i, -1, -1) if _content(lines[j]) and _indent(lines[j]) == 0), None)
    if section is None:
        return None
    key = lines[section].split(":", 1)[0].strip()
    kind = _DECL_BUILDERS.get(key)
    children = [j for j in range(section + 1, len(lines)) if _content(lines[j])]
    if kind is None or not children or _indent(lines[children[0]]) == 0 or i == section:
        return None
    step = _indent(lines[children[0]])
    start = next((j for j in range(i, section, -1) if _content(lines[j]) and _indent(lines[j]) == step), None)
    if start is None:
        return None
    name = lines[start].strip().split(":", 1)[0].strip().strip("'\"")
    end = next((j for j in range(max(i, start) + 1, len(lines))
                if _content(lines[j]) and _indent(lines[j]) <= step), len(lines))
    if not any(j < start or j >= end for j in children if _indent(lines[j]) == step):
        start = section  # the section's only declaration: the section goes too
    return (start, end), (kind, name)


def _blank(text: str, start: int, end: int) -> str:
    """`text` with lines [start, end) made blank, every offset kept (spans stay right)."""
    lines = text.split("\n")
    for j in range(start, min(end, len(lines))):
        lines[j] = " " * len(lines[j])
    return "\n".join(lines)


def _declared_names(text: str) -> list[tuple[str, str]]:
    """(kind, name) of what a file that cannot be read seems to declare: the keys one level
    under each section, read line by line."""
    out = []
    section, step = None, None
    for line in text.split("\n"):
        if not _content(line):
            continue
        if _indent(line) == 0:
            section, step = _DECL_BUILDERS.get(line.split(":", 1)[0].strip()), None
            continue
        if section is None:
            continue
        step = step or _indent(line)
        if _indent(line) == step and ":" in line:
            out.append((section, line.strip().split(":", 1)[0].strip().strip("'\"")))
    return out


def parse_yaml(text: str, path: str) -> tuple[A.Module, list[Diagnostic]]:
    """Parses one .flow.yaml file into the .flow AST. Never raises on bad input."""
    from pydantic import ValidationError

    from mlc.dsl.yaml_schema import Document

    module = A.Module(path)
    load_errors: list[Diagnostic] = []
    for _attempt in range(MAX_ERRORS):
        lines = _Lines(text)
        try:
            root_node = _compose(text, path, lines)
            if root_node is None:  # empty, or only comments
                module.comments = _comments(text, path, [], lines)
                return module, load_errors
            loader = _Loader(text, path)
            root = loader.load(root_node)
            break
        except _LoadError as e:
            load_errors.append(e.diagnostic)
            cut = _declaration_at(text, e.diagnostic.span.line if e.diagnostic.span else 0)
            if cut is None:  # not inside one declaration: what the file declares is a guess
                module.unread = _declared_names(text)
                return module, load_errors
            (start, end), kind_name = cut
            module.unread.append(kind_name)
            text = _blank(text, start, end)  # as the .flow parser drops the declaration that failed
    else:
        module.unread = _declared_names(text)
        return module, load_errors
    module.comments = _comments(text, path, loader.scalar_ranges, lines)
    if root.kind != "map":
        return module, [error("E0112", f"a .flow.yaml document is a mapping (package, imports, sources, "
                                       f"flows, ...), not {_what_is(root.data)}", root.span)]
    diags: list[Diagnostic] = list(load_errors)
    bad: set[tuple] = set()
    try:
        Document.model_validate(root.data)
    except ValidationError as e:
        found, bad = _schema_diagnostics(root, e.errors(include_url=False), path)
        diags.extend(found)
    b = _Builder(path)
    for section, (key, val) in root.items.items():
        if (section,) in bad:
            continue
        if section == "package":
            module.decls.append(b.package(key, val))
        elif section == "imports":
            module.decls.extend(b.imports(val))
        elif section in _DECL_BUILDERS:
            build = getattr(b, _DECL_BUILDERS[section])
            for k, v in val.items.values():
                if (section, k.value) in bad:
                    continue
                d = build(k, v)
                if d is not None:
                    kind = _DECL_BUILDERS[section]
                    d.meta.clauses = b.env_clauses(v) if kind == "env" else b.clauses(kind, v)
                    module.decls.append(d)
    attach_docs(module)  # the `##` lines above `package:` (the only doc comments YAML has) are its doc
    diags.extend(b.diagnostics)
    return module, diags
