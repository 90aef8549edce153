"""`mlc lsp` end to end: a real LSP client (pytest-lsp) starts `python -m mlc lsp` over stdio on a
copy of the recommendations example, and each test drives one feature and asserts the answer.

One server for the module (its start-up and first check cost ~1 s); each test leaves the
documents as it found them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient

from mlc.dsl.fmt import format_text
from mlc.lsp.features import TOKEN_MODIFIERS as LEGEND_MODIFIERS
from mlc.lsp.features import TOKEN_TYPES as LEGEND_TYPES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recommendations"
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp") / "recs"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".mlc_cache", "__pycache__"))
    return root.resolve()


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "mlc", "lsp"]))
async def client(lsp_client: LanguageClient, project: Path):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=T.ClientCapabilities(),
        workspace_folders=[T.WorkspaceFolder(uri=project.as_uri(), name="recs")], root_uri=project.as_uri()))
    yield
    await lsp_client.shutdown_session()


class Editor:
    """Open documents of the test client, with their versions."""

    def __init__(self, client: LanguageClient, project: Path) -> None:
        self.client, self.project, self.versions = client, project, {}

    def uri(self, name: str) -> str:
        return (self.project / name).as_uri()

    def text(self, name: str) -> str:
        return (self.project / name).read_text()

    async def open(self, name: str, text: str | None = None) -> str:
        uri = self.uri(name)
        self.versions[uri] = 1
        self.client.diagnostics.pop(uri, None)
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
            uri=uri, language_id="flow", version=1, text=self.text(name) if text is None else text)))
        await self.published(uri)
        return uri

    async def published(self, uri: str) -> None:
        """Waits for the diagnostics of `uri` (the server publishes every file's after a check)."""
        while uri not in self.client.diagnostics:
            await self.client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    async def replace_all(self, name: str, text: str) -> None:
        uri = self.uri(name)
        self.versions[uri] += 1
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            [T.TextDocumentContentChangeWholeDocument(text=text)]))
        self.client.diagnostics.pop(uri, None)
        await self.published(uri)

    async def close(self, name: str) -> None:
        uri = self.uri(name)
        self.client.diagnostics.pop(uri, None)
        self.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri)))
        await self.published(uri)

    def position(self, name: str, needle: str, nth: int = 0, offset: int = 0) -> T.Position:
        """Where the nth `needle` starts in the file (plus `offset` characters)."""
        text = self.text(name)
        at = -1
        for _ in range(nth + 1):
            at = text.index(needle, at + 1)
        line = text.count("\n", 0, at)
        return T.Position(line, at - (text.rfind("\n", 0, at) + 1) + offset)


@pytest.fixture
def editor(client: LanguageClient, project: Path) -> Editor:
    return Editor(client, project)


async def test_diagnostics_on_open_and_change_with_rule_links(client: LanguageClient, editor: Editor) -> None:
    uri = await editor.open("models.flow")
    assert list(client.diagnostics.get(uri, [])) == []
    broken = editor.text("models.flow").replace("fallback popular_titles", "fallback popular_title")
    await editor.replace_all("models.flow", broken)
    [d] = client.diagnostics[uri]
    assert d.code == "E0202" and "unknown model `popular_title`" in d.message
    assert "did you mean `popular_titles`?" in d.message
    assert d.code_description.href.endswith("docs/rules/E0202.md")
    assert d.range.start == editor.position("models.flow", "popular_titles", nth=1)
    await editor.replace_all("models.flow", editor.text("models.flow"))
    assert list(client.diagnostics[uri]) == []
    await editor.close("models.flow")


def _decode(data: list[int]) -> list[tuple[int, int, int, str, set[str]]]:
    out, line, col = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, typ, mods = data[i: i + 5]
        col = dc if dl else col + dc
        line += dl
        names = {m for b, m in enumerate(LEGEND_MODIFIERS) if mods & (1 << b)}
        out.append((line, col, length, LEGEND_TYPES[typ], names))
    return out


async def test_semantic_tokens_mark_probabilistic_models_and_streaming_groups(client: LanguageClient,
                                                                               editor: Editor) -> None:
    tokens = _decode((await client.text_document_semantic_tokens_full_async(T.SemanticTokensParams(
        T.TextDocumentIdentifier(editor.uri("models.flow"))))).data)
    by_pos = {(t[0], t[1]): t for t in tokens}
    ranker = editor.position("models.flow", "model ranker", offset=6)
    assert by_pos[(ranker.line, ranker.character)][2:] == (6, "function", {"declaration", "probabilistic"})
    baseline = editor.position("models.flow", "popular_titles", nth=1)  # in `fallback popular_titles`
    assert by_pos[(baseline.line, baseline.character)][3:] == ("function", {"deterministic"})
    group = editor.position("models.flow", "member_activity")
    assert by_pos[(group.line, group.character)][3:] == ("interface", {"streaming"})
    batch = editor.position("models.flow", "title_popularity")
    assert by_pos[(batch.line, batch.character)][3:] == ("interface", set())
    keyword = editor.position("models.flow", "model ranker")
    assert by_pos[(keyword.line, keyword.character)][2:4] == (5, "keyword")
    assert any(t[3] == "comment" and "documentation" in t[4] for t in tokens)
    assert any(t[3] == "number" for t in tokens) and any(t[3] == "string" for t in tokens)


async def test_hover_shows_doc_determinism_type_and_freshness(client: LanguageClient, editor: Editor) -> None:
    hover = await client.text_document_hover_async(T.HoverParams(
        T.TextDocumentIdentifier(editor.uri("flows.flow")), editor.position("flows.flow", "deploy(ranker)", offset=7)))
    text = hover.contents.value
    assert "**model** `netflix.recs.ranker`" in text and "probabilistic" in text
    assert "Personalised ranking of titles" in text
    assert "output `score: float`" in text
    assert "freshness of model ranker: at worst" in text and "member_activity" in text


async def test_definition_across_files_and_into_the_standard_library(client: LanguageClient, editor: Editor) -> None:
    found = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), editor.position("models.flow", "title_popularity")))
    assert found.uri == editor.uri("features.flow")
    assert found.range.start == editor.position("features.flow", "title_popularity")
    found = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(editor.uri("sources.flow")), editor.position("sources.flow", "kafka(", offset=1)))
    assert found.uri.endswith("mlc/stdlib/std/connectors.flow")
    assert Path(found.uri.removeprefix("file://")).read_text().splitlines()[found.range.start.line].startswith(
        "connector kafka")


async def test_references_across_files(client: LanguageClient, editor: Editor) -> None:
    refs = await client.text_document_references_async(T.ReferenceParams(
        text_document=T.TextDocumentIdentifier(editor.uri("models.flow")),
        position=editor.position("models.flow", "model ranker", offset=6),
        context=T.ReferenceContext(include_declaration=True)))
    files = sorted({r.uri.rsplit("/", 1)[1] for r in refs})
    assert "models.flow" in files and "flows.flow" in files and "slos.flow" in files
    flows = editor.text("flows.flow")
    assert sum(1 for r in refs if r.uri == editor.uri("flows.flow")) == flows.count("ranker)") + flows.count(
        "produces ranker") + flows.count("uses ranker")


async def test_completion_keywords_names_and_fields(client: LanguageClient, editor: Editor) -> None:
    text = editor.text("models.flow")
    at = text.index("  output score: float\n  confidence")
    edited = text[:at] + "  \n" + text[at:]
    await editor.open("models.flow", edited)
    line = edited.count("\n", 0, at)
    items = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), T.Position(line, 2)))
    labels = {i.label for i in items.items}
    assert {"framework", "fallback", "serve", "output", "owner"} <= labels
    assert "schedule" not in labels and "step" not in labels  # not a model's clauses
    # inside `inputs [`: names in scope
    at = edited.index("    member_activity.*")
    line = edited.count("\n", 0, at)
    items = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), T.Position(line, 4)))
    labels = {i.label for i in items.items}
    assert {"member_activity", "title_popularity", "ranking_context"} <= labels
    # after `member_activity.`: the group's features
    items = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), T.Position(line, 4 + len("member_activity."))))
    assert {i.label for i in items.items} == {"views_1h", "clicks_1h", "avg_dwell", "titles_1h"}
    await editor.close("models.flow")


async def test_document_and_workspace_symbols(client: LanguageClient, editor: Editor) -> None:
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(
        T.TextDocumentIdentifier(editor.uri("flows.flow"))))
    names = [s.name for s in symbols]
    assert names[:6] == ["netflix.recs", "training_set", "trainer", "catalog_refreshed", "ranker_published",
                         "build_training_set"]
    train = next(s for s in symbols if s.name == "train_ranker")
    assert [c.name for c in train.children][:3] == ["train", "evaluate", "publish"]
    found = await client.workspace_symbol_async(T.WorkspaceSymbolParams(query="popular"))
    assert [(s.name, s.location.uri.rsplit("/", 1)[1]) for s in found] == [
        ("popular_titles", "models.flow"), ("popularity_fresh", "slos.flow"), ("title_popularity", "features.flow")]


async def test_formatting_is_mlc_fmt(client: LanguageClient, editor: Editor) -> None:
    messy = editor.text("models.flow").replace("  framework rule\n", "      framework    rule\n")
    await editor.open("models.flow", messy)
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), T.FormattingOptions(tab_size=2, insert_spaces=True)))
    [edit] = edits
    assert edit.range.start == T.Position(0, 0)
    assert edit.new_text == format_text(messy)[0] == editor.text("models.flow")
    await editor.close("models.flow")


async def test_rename_across_files(client: LanguageClient, editor: Editor) -> None:
    result = await client.text_document_rename_async(T.RenameParams(
        T.TextDocumentIdentifier(editor.uri("models.flow")), editor.position("models.flow", "popular_titles"),
        "baseline"))
    changes = {uri.rsplit("/", 1)[1]: edits for uri, edits in result.changes.items()}
    assert sorted(changes) == ["models.flow"]
    assert len(changes["models.flow"]) == 2 and {e.new_text for e in changes["models.flow"]} == {"baseline"}
    result = await client.text_document_rename_async(T.RenameParams(
        T.TextDocumentIdentifier(editor.uri("features.flow")), editor.position("features.flow", "member_activity"),
        "member_recent"))
    files = {uri.rsplit("/", 1)[1]: len(edits) for uri, edits in result.changes.items()}
    assert files["features.flow"] == 1 + editor.text("features.flow").count("member_activity.")
    assert files["models.flow"] == 1


async def _fixes(client: LanguageClient, editor: Editor, name: str) -> list[T.CodeAction]:
    uri = editor.uri(name)
    diags = client.diagnostics[uri]
    assert diags
    return await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(uri), diags[0].range, T.CodeActionContext(diagnostics=list(diags))))


async def test_quick_fixes_did_you_mean_missing_unit_missing_import(client: LanguageClient, editor: Editor) -> None:
    text = editor.text("models.flow")
    await editor.open("models.flow", text.replace("fallback popular_titles", "fallback popular_title"))
    [fix] = await _fixes(client, editor, "models.flow")
    [edit] = fix.edit.changes[editor.uri("models.flow")]
    assert edit.new_text == "popular_titles" and fix.kind == T.CodeActionKind.QuickFix

    await editor.open("flows.flow", editor.text("flows.flow").replace("timeout 20m }", "timeout 20 }"))
    fixes = await _fixes(client, editor, "flows.flow")
    assert [f.edit.changes[editor.uri("flows.flow")][0].new_text for f in fixes] == ["20s", "20m", "20h"]
    await editor.close("flows.flow")

    await editor.open("extra.flow", "package netflix.extra\n\nflow ship {\n  step go deploy(ranker)\n}\n")
    [fix] = await _fixes(client, editor, "extra.flow")
    [edit] = fix.edit.changes[editor.uri("extra.flow")]
    assert edit.new_text == "import netflix.recs.{ranker}\n" and edit.range.start == T.Position(1, 0)
    await editor.close("extra.flow")
    await editor.close("models.flow")
