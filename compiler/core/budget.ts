// The compile budget: how much work checking and lowering one program may do, so that no source —
// a model file's method above all — can hang the compiler or exhaust memory with a few hundred
// bytes (a dimension that expands to 2²⁴ terms, tuples that double at each call, 2⁴⁰ inlined
// calls, a loop of 2·10⁹ trips). Each limit is far above what any shipped program uses (measured:
// the largest, a LittleBit KD training step of stories260K, is noted at each limit); exceeding one
// is a user error naming the limit, at the place that exceeded it. `--compile-budget X` (obtc) or
// CompileOptions.budget raises them for one's own code. Checking and lowering are synchronous:
// the budget in force is module state, set around each compile() and lower().
import { UserError, type Span } from '../syntax/diag.ts';
import type { Func } from '../../runtime/core/ir.ts';

export interface CompileBudget {
  /** generic-function instantiations checked in one compile (every shipped program: 34) */
  instances: number;
  /** function and closure calls inlined while lowering one entry (the largest shipped program, a
   *  LittleBit KD step of stories260K's 5 layers: 1 515; ~9 700 at LLaMA-7B's 32 layers) */
  inlined: number;
  /** Core IR equations emitted while lowering one entry, nested bodies included (the same: 11 953;
   *  ~76 500 at 32 layers) */
  equations: number;
  /** terms of one dimension polynomial (every shipped program: 1) */
  dimTerms: number;
  /** tensors of one type argument, tuples expanded (a layer or model struct counts 1) */
  typeLeaves: number;
  /** equations a loop written in a sealed module (a model file's method) may run: its trip count
   *  times its body's equations, nested loops multiplied */
  sealedLoopWork: number;
  /** characters of a sealed module's source (the largest shipped method: ~2 500; parsing costs
   *  ~30 µs and ~4 KB per character) */
  sealedSourceChars: number;
}

const DEFAULT_BUDGET: Readonly<CompileBudget> = Object.freeze({
  instances: 1 << 12,
  inlined: 1 << 17,
  equations: 1 << 20,
  dimTerms: 1 << 10,
  typeLeaves: 1 << 14,
  sealedLoopWork: 1 << 24,
  sealedSourceChars: 64 << 10,
});

/** Every limit times `x` (obtc --compile-budget X). */
export function scaledBudget(x: number): CompileBudget {
  const out = { ...DEFAULT_BUDGET };
  for (const k of Object.keys(out) as (keyof CompileBudget)[]) out[k] = Math.min(2 ** 52, Math.ceil(out[k] * x));
  return out;
}

const WHAT: Record<keyof CompileBudget, string> = {
  instances: 'generic-function instantiations',
  inlined: 'inlined calls',
  equations: 'Core IR equations',
  dimTerms: 'terms in one dimension expression',
  typeLeaves: 'tensors in one type',
  sealedLoopWork: "equations run by one loop of a model file's method",
  sealedSourceChars: "characters of a model file's method source",
};

/** Exceeding a limit of the compile budget. */
class BudgetExceeded extends UserError {
  constructor(
    readonly limit: keyof CompileBudget,
    found: string,
    span?: Span,
  ) {
    super(
      `compile budget exceeded: ${found}; at most ${budget()[limit]} ${WHAT[limit]} are allowed`,
      span,
      'a program this large is a mistake or a hostile file; for your own code, obtc --compile-budget X raises every limit X times',
    );
  }
}

let processDefault: CompileBudget = { ...DEFAULT_BUDGET };
const stack: { b: CompileBudget; spent: Record<'instances' | 'inlined' | 'equations', number> }[] = [];

/** The default budget of every compile in this process (obtc --compile-budget). */
export function setDefaultBudget(b: CompileBudget): void {
  processDefault = b;
}

/** The budget in force. */
export function budget(): CompileBudget {
  return stack[stack.length - 1]?.b ?? processDefault;
}

/** Runs `f` (one compile or one lowering) under a budget, with fresh counters. */
export function withBudget<T>(b: CompileBudget | undefined, f: () => T): T {
  stack.push({ b: b ?? processDefault, spent: { instances: 0, inlined: 0, equations: 0 } });
  try {
    return f();
  } finally {
    stack.pop();
  }
}

/** Counts `n` units of a counted limit; throws once the budget in force is exceeded. */
export function spend(limit: 'instances' | 'inlined' | 'equations', span?: Span, n = 1): void {
  const top = stack[stack.length - 1];
  if (!top) return;
  top.spent[limit] += n;
  if (top.spent[limit] > top.b[limit])
    throw new BudgetExceeded(
      limit,
      `this ${limit === 'instances' ? 'program' : 'entry'} needs more ${WHAT[limit]}`,
      span,
    );
}

/** Checks a size against a limit of the budget in force. */
export function within(
  limit: 'dimTerms' | 'typeLeaves' | 'sealedLoopWork' | 'sealedSourceChars',
  n: number,
  what: string,
  span?: Span,
): void {
  if (n > budget()[limit]) throw new BudgetExceeded(limit, `${what}: ${n >= 2 ** 53 ? 'over 2^53' : n}`, span);
}

/** The equations a body runs: each equation once, a loop's body its trip count times (nested
 *  bodies of other equations, e.g. a gradient rule's, once). */
export function funcWork(f: Func): number {
  let n = 0;
  for (const e of f.eqns) {
    n += 1;
    const ps = e.params as Record<string, unknown>;
    for (const v of Object.values(ps))
      if (v && typeof v === 'object' && 'eqns' in v)
        n += funcWork(v as Func) * (e.prim === 'iterate' ? (ps.n as number) : 1);
  }
  return n;
}
