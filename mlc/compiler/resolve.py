"""Names: which declaration each name in a file means.

Every file sees the declarations of its own package and what it imports
(`import std.connectors.{kafka}`, `import netflix.features as f`). Connectors
and envs live in namespaces of their own; every other declaration shares one
namespace per package. Declarations are keyed by qualified name
(`package.name`) in the IR, so two packages may reuse a name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlc.diagnostics import Diagnostic, Label, Span, did_you_mean, error
from mlc.dsl import ast as A

STDLIB_MODULES = ("std.connectors", "std.slo")

# namespace of each declaration kind
NAMESPACE = {"connector": "connector", "env": "env"}
KIND_WORDS = {
    "source": "source", "entity": "entity", "features": "feature group", "model": "model",
    "service": "feature service",
    "signal": "signal", "flow": "flow", "slo": "slo", "connector": "connector", "env": "env",
    "artifact": "artifact", "runtime": "runtime",
}


def namespace(kind: str) -> str:
    return NAMESPACE.get(kind, "decl")


def qualify(package: str | None, name: str) -> str:
    return f"{package}.{name}" if package else name


@dataclass(frozen=True)
class Symbol:
    kind: str
    name: str
    package: str | None
    span: Span
    source_kind: str | None = None
    extent: Span | None = None  # the whole declaration, doc comment excluded

    @property
    def key(self) -> str:
        return qualify(self.package, self.name)


@dataclass(frozen=True)
class Summary:
    """What other files need to know of one file: its package, imports and declarations.

    Small and cached per file: names resolve from summaries alone, so a file whose
    neighbours did not change need not be parsed or lowered again.
    """

    path: str
    package: str | None
    imports: tuple[A.ImportDecl, ...]
    symbols: tuple[Symbol, ...]
    unread: tuple[tuple[str, str], ...] = ()  # (kind, name) declared where the file failed to parse

    def fingerprint(self) -> tuple:
        """Everything that decides how names resolve (spans excluded: moving a line keeps it)."""
        imports = tuple((d.module.dotted, tuple(m.value for m in d.members), d.alias.value if d.alias else None)
                        for d in self.imports)
        return (self.path, self.package, imports,
                tuple((s.kind, s.name, s.source_kind) for s in self.symbols), self.unread)


def summarize(m: A.Module) -> Summary:
    pkg = m.package
    imports = tuple(d for d in m.decls if isinstance(d, A.ImportDecl))
    symbols = tuple(
        Symbol(d.kind, d.name.value, pkg, d.name.span, d.source_kind if isinstance(d, A.SourceDecl) else None,
               d.span)
        for d in m.decls if not isinstance(d, (A.PackageDecl, A.ImportDecl)))
    return Summary(m.path, pkg, imports, symbols, tuple(m.unread))


@dataclass
class Scope:
    """What one file can name: its package's declarations (shared, not copied), what it
    imports, and module aliases -> package."""

    package: str | None
    own: dict[tuple[str, str], Symbol]
    imported: dict[tuple[str, str], Symbol] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    poisoned: set[str] = field(default_factory=set)

    def get(self, key: tuple[str, str]) -> Symbol | None:
        found = self.own.get(key)
        return found if found is not None else self.imported.get(key)

    def items(self):
        yield from self.imported.items()
        yield from self.own.items()


class Resolver:
    def __init__(self, summaries: list[Summary]) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.packages: dict[str | None, dict[tuple[str, str], Symbol]] = {}
        # (namespace, name) per package of the declarations a file failed to parse: a use of
        # one is not an unknown name (the syntax error is the mistake), so it stays quiet
        self.unread: dict[str | None, set[tuple[str, str]]] = {}
        self._collect(summaries)
        self.scopes = {s.path: self._scope(s) for s in summaries}

    # ------------------------------------------------------------------ building
    def _collect(self, summaries: list[Summary]) -> None:
        for summary in summaries:
            table = self.packages.setdefault(summary.package, {})
            self.unread.setdefault(summary.package, set()).update((namespace(k), n) for k, n in summary.unread)
            for sym in summary.symbols:
                key = (namespace(sym.kind), sym.name)
                prev = table.get(key)
                if prev is not None:
                    self.diagnostics.append(error(
                        "E0201", f"`{sym.name}` is declared twice", sym.span,
                        labels=(Label(prev.span, f"first declared here, as a {KIND_WORDS[prev.kind]}"),),
                        help=f"rename one of them, or remove the second {KIND_WORDS[sym.kind]}"))
                    continue
                table[key] = sym

    def _scope(self, summary: Summary) -> Scope:
        scope = Scope(summary.package, self.packages.setdefault(summary.package, {}))
        for d in summary.imports:
            self._import(d, scope)
        return scope

    def _import(self, d: A.ImportDecl, scope: Scope) -> None:
        module = d.module.dotted
        if module not in self.packages:
            known = [p for p in self.packages if p] + list(STDLIB_MODULES)
            parent, _, last = module.rpartition(".")
            if not d.members and any(name == last for (_ns, name) in self.packages.get(parent, {})):
                help = f"a module's members are imported in braces: `import {parent}.{{{last}}}`"
                scope.poisoned.add(last)
            else:
                help = did_you_mean(module, known)
            self.diagnostics.append(error(
                "E0203", f"unknown module `{module}`", d.module.span, help=help,
                notes=("modules are the `package` names of the project's files and of the standard "
                       "library (`std.connectors`, `std.slo`)",)))
            for member in d.members:  # already reported: later uses of these names stay quiet
                scope.poisoned.add(member.value)
            return
        table = self.packages[module]
        if not d.members:
            scope.modules[d.alias.value if d.alias else module] = module
            return
        for member in d.members:
            # by key, not by a scan of the module's table: a platform's files import thousands of names
            found = [s for ns in ("decl", "connector", "env") if (s := table.get((ns, member.value))) is not None]
            if not found and any(name == member.value for _ns, name in self.unread.get(module, ())):
                scope.poisoned.add(member.value)  # declared where that module failed to parse
                continue
            if not found:
                self.diagnostics.append(error(
                    "E0204", f"module `{module}` has no `{member.value}`", member.span,
                    help=did_you_mean(member.value, {name for (_ns, name) in table})))
                scope.poisoned.add(member.value)
                continue
            for s in found:
                scope.imported[(namespace(s.kind), s.name)] = s

    def is_declaration(self, package: str | None, d: A.Declaration) -> bool:
        """Whether `d` is the declaration its name stands for (not a later duplicate)."""
        return self.is_declaration_at(package, d.kind, d.name.value, d.name.span)

    def is_declaration_at(self, package: str | None, kind: str, name: str, span: Span) -> bool:
        symbol = self.packages.get(package, {}).get((namespace(kind), name))
        return symbol is not None and symbol.span == span

    def outcome(self, file: str, name: str, kinds: tuple[str, ...]) -> tuple | str | None:
        """What `lookup` makes of `name` in `file`, as a value to compare, without reporting:
        (key, kind, source kind) of the declaration, None for a name whose import failed,
        "error" where lookup reports."""
        scope = self.scopes.get(file)
        if scope is None:
            return None
        symbol = self._find(scope, namespace(kinds[0]), name)
        if symbol is None:
            return None if name in scope.poisoned or self._unread(scope, namespace(kinds[0]), name) else "error"
        return (symbol.key, symbol.kind, symbol.source_kind) if symbol.kind in kinds else "error"

    # ------------------------------------------------------------------ lookups
    def lookup(self, file: str, name: str, span: Span, kinds: tuple[str, ...],
               what: str | None = None) -> Symbol | None:
        """The declaration `name` means in `file`, of one of `kinds`; reports why not otherwise."""
        scope = self.scopes.get(file)
        if scope is None:
            return None
        ns = namespace(kinds[0])
        symbol = self._find(scope, ns, name)
        words = [KIND_WORDS[k] for k in kinds]
        label = what or (words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}")
        if symbol is None:
            if name in scope.poisoned or self._unread(scope, ns, name):
                return None
            candidates = [n for (space, n), s in scope.items() if space == ns and s.kind in kinds]
            notes: tuple[str, ...] = ()
            if ns == "connector" and not candidates:
                notes = ("connectors come from the standard library: `import std.connectors.{kafka, hive, s3, files}`",)
            # declared in a module this file does not import from: say which import to add
            homes = sorted(p for p, table in self.packages.items()
                           if p and p != scope.package and (ns, name) in table and table[(ns, name)].kind in kinds)
            if homes and "." not in name:
                home = homes[0]
                members = sorted({s.name for s in scope.imported.values() if s.package == home})
                listed = ", ".join([*members, name])
                help = (f"`{name}` is declared in `{home}`: "
                        + (f"add it to the import, `import {home}.{{{listed}}}`" if members
                           else f"import it, `import {home}.{{{name}}}`"))
            else:
                help = did_you_mean(name, candidates)
            self.diagnostics.append(error("E0202", f"unknown {label} `{name}`", span, help=help, notes=notes))
            return None
        if symbol.kind not in kinds:
            self.diagnostics.append(error(
                "E0205", f"`{name}` is a {KIND_WORDS[symbol.kind]}, not a {label}", span,
                labels=(Label(symbol.span, f"{KIND_WORDS[symbol.kind]} declared here"),)))
            return None
        return symbol

    def _unread(self, scope: Scope, ns: str, name: str) -> bool:
        """Whether `name` may be a declaration that failed to parse (see `unread`)."""
        if (ns, name) in self.unread.get(scope.package, ()):
            return True
        module, _, member = name.rpartition(".")
        package = scope.modules.get(module, module) if module else None
        return package is not None and (ns, member) in self.unread.get(package, ())

    def _find(self, scope: Scope, ns: str, name: str) -> Symbol | None:
        symbol = scope.get((ns, name))
        if symbol is not None or "." not in name:
            return symbol
        module, _, member = name.rpartition(".")
        package = scope.modules.get(module, module if module in self.packages else None)
        if package is None:
            return None
        return self.packages[package].get((ns, member))

    def symbols(self):
        for table in self.packages.values():
            yield from table.values()
