// obtc check FILE... [--method NAME|FILE] [--json]: type-checks each file (--method binds `import
// method`); its diagnostics on stderr (--json: one JSON object on stdout), exit 1 if any has errors.
import { compile } from '../compiler/api.ts';
import { formatDiagnostic } from '../compiler/syntax/diag.ts';
import { diagnosticJson, type DiagnosticJson } from '../runtime/core/errors.ts';
import { compileOptions, readSource, sourcePath, Usage, type Command } from './args.ts';

export const checkCmd: Command = async (pos, flags, io) => {
  if (!pos.length) throw new Usage('check needs at least one file');
  let bad = 0;
  const json = flags.has('json');
  const files: { file: string; ok: boolean; diagnostics: DiagnosticJson[] }[] = [];
  for (const file of pos) {
    const prog = compile(readSource(file), compileOptions(file, flags));
    if (json) files.push({ file: sourcePath(file), ok: prog.ok, diagnostics: prog.diagnostics.map(diagnosticJson) });
    else for (const d of prog.diagnostics) io.err(formatDiagnostic(d) + '\n\n');
    if (!prog.ok) bad++;
  }
  if (json) io.out(JSON.stringify({ ok: !bad, files }) + '\n');
  else if (bad) io.err(`obtc: ${bad} file(s) with errors\n`);
  return bad ? 1 : 0;
};
