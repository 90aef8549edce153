// The VS Code side of mlc's editor support: the grammar and language configuration are declared
// in package.json; this starts `mlc lsp` (the path is the `mlc.path` setting) as the language
// server of .flow files.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("mlc").get("path") || "mlc";
  client = new LanguageClient(
    "mlc",
    "mlc language server",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "flow" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
