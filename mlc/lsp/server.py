"""`mlc lsp`: the language server (pygls 2, over stdio).

It keeps one `Workspace` (the project of the first workspace folder, open files as the editor
holds them) and answers from it; `mlc.lsp.features` computes the answers, this module only
converts between LSP types and the compiler's spans (1-based lines and columns, end exclusive).
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as T
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from mlc import __version__
from mlc.diagnostics import Diagnostic, Severity, Span
from mlc.lsp import features as F
from mlc.lsp.engine import STDLIB_PREFIX, Workspace

_SEVERITY = {Severity.ERROR: T.DiagnosticSeverity.Error, Severity.WARNING: T.DiagnosticSeverity.Warning,
             Severity.NOTE: T.DiagnosticSeverity.Information}
_SYMBOL_KIND = {"package": T.SymbolKind.Package, "connector": T.SymbolKind.Interface, "env": T.SymbolKind.Namespace,
                "source": T.SymbolKind.Class, "entity": T.SymbolKind.Struct, "features": T.SymbolKind.Module,
                "model": T.SymbolKind.Function, "service": T.SymbolKind.Class, "signal": T.SymbolKind.Event,
                "flow": T.SymbolKind.Method, "slo": T.SymbolKind.Constant, "step": T.SymbolKind.Function,
                "feature": T.SymbolKind.Field, "field": T.SymbolKind.Field}
_COMPLETION_KIND = {"keyword": T.CompletionItemKind.Keyword, "field": T.CompletionItemKind.Field,
                    "model": T.CompletionItemKind.Function, "flow": T.CompletionItemKind.Method,
                    "source": T.CompletionItemKind.Class, "features": T.CompletionItemKind.Module,
                    "signal": T.CompletionItemKind.Event, "entity": T.CompletionItemKind.Struct}
LEGEND = T.SemanticTokensLegend(token_types=list(F.TOKEN_TYPES), token_modifiers=list(F.TOKEN_MODIFIERS))


class FlowServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("mlc", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.ws = Workspace()
        self.published: set[str] = set()

    # ------------------------------------------------------------------ paths and spans
    @staticmethod
    def path(uri: str) -> str:
        return str(Path(to_fs_path(uri)).resolve())

    @staticmethod
    def uri(path: str) -> str:
        if path.startswith(STDLIB_PREFIX):
            from importlib import resources

            path = str(resources.files("mlc.stdlib").joinpath(path[len(STDLIB_PREFIX):]))
        return from_fs_path(path)

    @staticmethod
    def range(span: Span) -> T.Range:
        return T.Range(T.Position(span.line - 1, span.col - 1), T.Position(span.end_line - 1, span.end_col - 1))

    def location(self, span: Span) -> T.Location:
        return T.Location(self.uri(span.file), self.range(span))

    # ------------------------------------------------------------------ diagnostics
    def refresh(self, edited: str | None = None) -> None:
        """Checks the workspace and publishes the diagnostics of every file that has some or had
        some (cleared where none are left), and of the file just edited, even when it has none."""
        found = self.ws.check()
        now = {p for p, ds in found.items() if ds and not p.startswith(STDLIB_PREFIX)}
        for path in sorted(now | self.published | ({edited} if edited else set())):
            diags = found.get(path, [])
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
                uri=self.uri(path), diagnostics=[self.diagnostic(d) for d in diags]))
        self.published = now

    def diagnostic(self, d: Diagnostic) -> T.Diagnostic:
        message = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        return T.Diagnostic(
            range=self.range(d.span), message=message, severity=_SEVERITY[d.severity], code=d.code, source="mlc",
            code_description=_rule_link(d.code),
            related_information=[T.DiagnosticRelatedInformation(self.location(lb.span), lb.message)
                                 for lb in d.labels] or None,
            data={"help": d.help} if d.help else None)


def _rule_link(code: str) -> T.CodeDescription | None:
    """The rule's page, docs/rules/CODE.md, where mlc runs from its source tree."""
    page = Path(__file__).resolve().parents[2] / "docs" / "rules" / f"{code}.md"
    return T.CodeDescription(href=from_fs_path(str(page))) if page.is_file() else None


server = FlowServer()


@server.feature(T.INITIALIZED)
def _initialized(ls: FlowServer, _params: T.InitializedParams) -> None:
    folders = ls.workspace.folders
    for folder in folders.values():
        ls.ws.load_folder(Path(to_fs_path(folder.uri)))
    if ls.workspace.root_path and not folders:
        ls.ws.load_folder(Path(ls.workspace.root_path))
    ls.refresh()


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def _opened(ls: FlowServer, params: T.DidOpenTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    ls.ws.set_text(path, params.text_document.text)
    ls.refresh(path)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def _changed(ls: FlowServer, params: T.DidChangeTextDocumentParams) -> None:
    path = ls.path(params.text_document.uri)
    ls.ws.set_text(path, ls.workspace.get_text_document(params.text_document.uri).source)
    ls.refresh(path)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def _closed(ls: FlowServer, params: T.DidCloseTextDocumentParams) -> None:
    """Back to the text on disk (or gone, for a file that was never saved)."""
    path = ls.path(params.text_document.uri)
    if Path(path).is_file():
        ls.ws.set_text(path, Path(path).read_text(encoding="utf-8"))
    else:
        ls.ws.remove(path)
    ls.refresh(path)


@server.feature(T.TEXT_DOCUMENT_HOVER)
def _hover(ls: FlowServer, params: T.HoverParams) -> T.Hover | None:
    pos = params.position
    found = F.hover(ls.ws, ls.path(params.text_document.uri), pos.line + 1, pos.character + 1)
    if found is None:
        return None
    text, span = found
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text), ls.range(span))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: FlowServer, params: T.DefinitionParams) -> T.Location | None:
    pos = params.position
    found = ls.ws.at(ls.path(params.text_document.uri), pos.line + 1, pos.character + 1)
    return ls.location(found[1].span) if found else None


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def _references(ls: FlowServer, params: T.ReferenceParams) -> list[T.Location]:
    pos = params.position
    found = ls.ws.at(ls.path(params.text_document.uri), pos.line + 1, pos.character + 1)
    if found is None:
        return []
    return [ls.location(s) for s in ls.ws.references(found[1].key, params.context.include_declaration)]


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["."]))
def _completion(ls: FlowServer, params: T.CompletionParams) -> T.CompletionList:
    pos = params.position
    items = F.completions(ls.ws, ls.path(params.text_document.uri), pos.line + 1, pos.character + 1)
    return T.CompletionList(is_incomplete=False, items=[
        T.CompletionItem(label=c.label, kind=_COMPLETION_KIND.get(c.kind, T.CompletionItemKind.Reference),
                         detail=c.detail) for c in items])


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def _document_symbols(ls: FlowServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    def convert(s: F.DocSymbol) -> T.DocumentSymbol:
        return T.DocumentSymbol(name=s.name, kind=_SYMBOL_KIND.get(s.kind, T.SymbolKind.Object), detail=s.kind,
                                range=ls.range(s.span), selection_range=ls.range(s.selection),
                                children=[convert(c) for c in s.children] or None)
    return [convert(s) for s in F.document_symbols(ls.ws, ls.path(params.text_document.uri))]


@server.feature(T.WORKSPACE_SYMBOL)
def _workspace_symbols(ls: FlowServer, params: T.WorkspaceSymbolParams) -> list[T.SymbolInformation]:
    return [T.SymbolInformation(name=s.name, kind=_SYMBOL_KIND.get(s.kind, T.SymbolKind.Object),
                                location=ls.location(s.span), container_name=s.package)
            for s in F.workspace_symbols(ls.ws, params.query)]


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: FlowServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    """What `mlc fmt` writes, as one edit of the whole text; nothing for a file with errors."""
    from mlc.dsl.fmt import format_text

    path = ls.path(params.text_document.uri)
    doc = ls.ws.docs.get(path)
    if doc is None or doc.yaml:
        return None
    formatted, _ = format_text(doc.text, path)
    if formatted is None or formatted == doc.text:
        return []
    lines = doc.text.split("\n")
    whole = T.Range(T.Position(0, 0), T.Position(len(lines) - 1, len(lines[-1])))
    return [T.TextEdit(whole, formatted)]


@server.feature(T.TEXT_DOCUMENT_RENAME)
def _rename(ls: FlowServer, params: T.RenameParams) -> T.WorkspaceEdit:
    pos = params.position
    edits = F.rename(ls.ws, ls.path(params.text_document.uri), pos.line + 1, pos.character + 1, params.new_name)
    if isinstance(edits, str):
        raise JsonRpcInvalidParams(edits)  # the editor shows the message
    return T.WorkspaceEdit(changes={ls.uri(path): [T.TextEdit(ls.range(s), text) for s, text in spans]
                                    for path, spans in edits.items()})


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def _code_actions(ls: FlowServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    path = ls.path(params.text_document.uri)
    wanted = params.range
    out = []
    for d in ls.ws.diagnostics.get(path, []):
        r = ls.range(d.span)
        if (r.end.line, r.end.character) < (wanted.start.line, wanted.start.character) or \
                (r.start.line, r.start.character) > (wanted.end.line, wanted.end.character):
            continue
        for fix in F.quick_fixes(ls.ws, d):
            out.append(T.CodeAction(
                title=fix.title, kind=T.CodeActionKind.QuickFix, diagnostics=[ls.diagnostic(d)],
                edit=T.WorkspaceEdit(changes={ls.uri(fix.span.file): [T.TextEdit(ls.range(fix.span), fix.text)]}),
                is_preferred=len(out) == 0))
    return out


@server.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
def _semantic_tokens(ls: FlowServer, params: T.SemanticTokensParams) -> T.SemanticTokens:
    data: list[int] = []
    line, col = 1, 1
    types = {t: i for i, t in enumerate(F.TOKEN_TYPES)}
    mods = {m: 1 << i for i, m in enumerate(F.TOKEN_MODIFIERS)}
    for t in F.semantic_tokens(ls.ws, ls.path(params.text_document.uri)):
        data += [t.line - line, t.col - (col if t.line == line else 1), t.length, types[t.type],
                 sum(mods[m] for m in t.modifiers)]
        line, col = t.line, t.col
    return T.SemanticTokens(data=data)


def serve() -> None:
    server.start_io()
