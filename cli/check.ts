// obtc check FILE... [--method NAME|FILE]: type-checks each file (--method binds `import method`);
// its diagnostics on stderr, exit 1 if any has errors.
import { compile } from '../compiler/api.ts';
import { formatDiagnostic } from '../compiler/syntax/diag.ts';
import { compileOptions, readSource, Usage, type Command } from './args.ts';

export const checkCmd: Command = async (pos, flags, io) => {
  if (!pos.length) throw new Usage('check needs at least one file');
  let bad = 0;
  for (const file of pos) {
    const prog = compile(readSource(file), compileOptions(file, flags));
    for (const d of prog.diagnostics) io.err(formatDiagnostic(d) + '\n\n');
    if (!prog.ok) bad++;
  }
  if (bad) {
    io.err(`obtc: ${bad} file(s) with errors\n`);
    return 1;
  }
  return 0;
};
