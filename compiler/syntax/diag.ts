// Diagnostics of the compiler's stages: the collection a stage reports into and the error the API
// raises with all of them. The error types and their rendering live in runtime/core/errors.ts (a compiled
// artifact reports through them without the compiler); they are re-exported here for the stages.
import { formatDiagnostic, spanLocation, type Diagnostic } from '../../runtime/core/errors.ts';

export {
  UserError,
  Interrupted,
  InternalError,
  formatDiagnostic,
  lineCol,
  lineStarts,
  spanLocation,
} from '../../runtime/core/errors.ts';
export type { SourceFile, Span, Note, Diagnostic } from '../../runtime/core/errors.ts';

/** Collects diagnostics across a stage; `fail()` raises the collected ones as a single CompileError. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];
  add(d: Diagnostic): void {
    const key = (x: Diagnostic) => `${x.span ? spanLocation(x.span) : ''}|${x.message}`;
    if (!this.list.some((e) => key(e) === key(d))) this.list.push(d);
  }
  get errors(): Diagnostic[] {
    return this.list.filter((d) => d.severity === 'error');
  }
  hasErrors(): boolean {
    return this.errors.length > 0;
  }
}

/** Raised by the public API when compilation produced errors; carries all of them. */
export class CompileError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n\n'));
  }
}
