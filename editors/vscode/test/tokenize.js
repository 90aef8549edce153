// Tokenizes .flow files with the TextMate grammar, through the engine VS Code itself uses
// (vscode-textmate on vscode-oniguruma), and prints one JSON line per file:
// {"file": ..., "lines": [[{"text", "scopes"}, ...], ...]}. Used by tests/lsp/test_lsp_textmate.py.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.resolve(__dirname, "..");
const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
const onigLib = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (s) => new oniguruma.OnigString(s),
}));

const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async (scopeName) => {
    if (scopeName !== "source.flow") return null;
    const file = path.join(root, "syntaxes", "flow.tmLanguage.json");
    return vsctm.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
  },
});

async function main(files) {
  const grammar = await registry.loadGrammar("source.flow");
  for (const file of files) {
    let stack = vsctm.INITIAL;
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/).map((line) => {
      const result = grammar.tokenizeLine(line, stack);
      stack = result.ruleStack;
      return result.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes }));
    });
    process.stdout.write(JSON.stringify({ file, lines }) + "\n");
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
