// The VS Code extension's client: starts `obtc lsp --stdio` (the workspace's obtc, else the one
// on PATH, or the command in the obt.server.command setting) for .obt files, through Microsoft's
// vscode-languageclient. Highlighting needs none of this: it is the TextMate grammar in syntaxes/.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function serverCommand() {
  const configured = vscode.workspace.getConfiguration('obt').get('server.command') ?? [];
  if (configured.length) return { command: configured[0], args: [...configured.slice(1), '--stdio'] };
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const bin = join(folder.uri.fsPath, 'node_modules', '.bin', process.platform === 'win32' ? 'obtc.cmd' : 'obtc');
    if (existsSync(bin)) return { command: bin, args: ['lsp', '--stdio'] };
    const checkout = join(folder.uri.fsPath, 'bin', 'obtc.js');
    if (existsSync(checkout)) return { command: process.execPath, args: [checkout, 'lsp', '--stdio'] };
  }
  return { command: 'obtc', args: ['lsp', '--stdio'] };
}

exports.activate = function activate(context) {
  const run = { ...serverCommand(), transport: TransportKind.stdio };
  client = new LanguageClient(
    'obt',
    'obt language server',
    { run, debug: run },
    { documentSelector: [{ scheme: 'file', language: 'obt' }] },
  );
  context.subscriptions.push({ dispose: () => client?.stop() });
  return client.start();
};

exports.deactivate = function deactivate() {
  return client?.stop();
};
