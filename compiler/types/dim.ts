// Symbolic dims: sums of rational-coefficient monomials over dim variables with integer exponents.
// `D / H` is the monomial D·H⁻¹ (exact division; divisibility is checked once values are known),
// so `KV * (H / KV)` normalises to `H`. A concrete dim is a constant polynomial. Products are
// bounded by the compile budget (budget.ts): (A+B)·(C+D)·… would otherwise expand without limit.
import { UserError } from '../syntax/diag.ts';
import { within } from '../core/budget.ts';

export interface Rat {
  n: number;
  d: number; // > 0
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a || 1;
}

function rat(n: number, d = 1): Rat {
  if (d < 0) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return { n: n / g, d: d / g };
}

/** A monomial's variables as a sorted `name^exp` key; '' for the constant term. */
type MonoKey = string;

export interface Dim {
  /** key -> (coefficient, exponents) */
  terms: Map<MonoKey, { c: Rat; vars: Map<string, number> }>;
}

function monoKey(vars: Map<string, number>): MonoKey {
  return [...vars.entries()]
    .filter(([, e]) => e !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([v, e]) => (e === 1 ? v : `${v}^${e}`))
    .join('*');
}

/** The highest power a dim variable may carry (D^64 is far beyond any shape; printing D^(2^30) would
 *  spell it out). */
const MAX_DEGREE = 64;

function addTerm(out: Dim, c: Rat, vars: Map<string, number>): void {
  const clean = new Map([...vars].filter(([, e]) => e !== 0));
  for (const [v, e] of clean)
    if (Math.abs(e) > MAX_DEGREE)
      throw new UserError(`a dimension expression raises ${v} to the power ${e}; at most ${MAX_DEGREE} is allowed`);
  const key = monoKey(clean);
  const prev = out.terms.get(key);
  const sum = prev ? rat(prev.c.n * c.d + c.n * prev.c.d, prev.c.d * c.d) : c;
  if (sum.n === 0) out.terms.delete(key);
  else out.terms.set(key, { c: sum, vars: clean });
}

export function dimConst(n: number): Dim {
  const d: Dim = { terms: new Map() };
  if (n !== 0) addTerm(d, rat(n), new Map());
  return d;
}

export function dimVar(name: string): Dim {
  const d: Dim = { terms: new Map() };
  addTerm(d, rat(1), new Map([[name, 1]]));
  return d;
}

export function dimAdd(a: Dim, b: Dim, sign = 1): Dim {
  const out: Dim = { terms: new Map() };
  for (const t of a.terms.values()) addTerm(out, t.c, t.vars);
  for (const t of b.terms.values()) addTerm(out, rat(sign * t.c.n, t.c.d), t.vars);
  return out;
}

export function dimMul(a: Dim, b: Dim): Dim {
  within('dimTerms', a.terms.size * b.terms.size, 'a product of dimension expressions expands to this many terms');
  const out: Dim = { terms: new Map() };
  for (const x of a.terms.values())
    for (const y of b.terms.values()) {
      const vars = new Map(x.vars);
      for (const [v, e] of y.vars) vars.set(v, (vars.get(v) ?? 0) + e);
      addTerm(out, rat(x.c.n * y.c.n, x.c.d * y.c.d), vars);
    }
  return out;
}

/** a / b; b must be a single monomial (a product of dims and a constant). Returns undefined otherwise. */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  if (b.terms.size !== 1) return undefined;
  const t = [...b.terms.values()][0]!;
  const inv: Dim = { terms: new Map() };
  addTerm(inv, rat(t.c.d, t.c.n), new Map([...t.vars].map(([v, e]) => [v, -e])));
  return dimMul(a, inv);
}

export function dimEq(a: Dim, b: Dim): boolean {
  return dimAdd(a, b, -1).terms.size === 0;
}

/** The constant value if the dim has no variables (possibly non-integer). */
export function dimValue(a: Dim): number | undefined {
  if (a.terms.size === 0) return 0;
  if (a.terms.size !== 1) return undefined;
  const t = a.terms.get('');
  return t ? t.c.n / t.c.d : undefined;
}

export function dimVars(a: Dim): Set<string> {
  const s = new Set<string>();
  for (const t of a.terms.values()) for (const v of t.vars.keys()) s.add(v);
  return s;
}

/** Substitutes variables by dims; variables not in the map stay. */
export function dimSubst(a: Dim, env: (v: string) => Dim | undefined): Dim {
  let out = dimConst(0);
  for (const t of a.terms.values()) {
    let term: Dim = { terms: new Map() };
    addTerm(term, t.c, new Map());
    for (const [v, e] of t.vars) {
      const rep = env(v) ?? dimVar(v);
      for (let i = 0; i < Math.abs(e); i++) {
        if (e > 0) term = dimMul(term, rep);
        else {
          const q = dimDiv(term, rep);
          if (!q) {
            // cannot divide by a sum: keep the variable symbolic
            term = dimMul(term, dimPow(dimVar(v), -1));
          } else term = q;
        }
      }
    }
    out = dimAdd(out, term);
  }
  return out;
}

function dimPow(a: Dim, e: number): Dim {
  const t = [...a.terms.values()][0]!;
  const out: Dim = { terms: new Map() };
  addTerm(out, t.c, new Map([...t.vars].map(([v, x]) => [v, x * e])));
  return out;
}

/**
 * Solves `pattern(x) = target` for one unknown x, where pattern is linear in x with a monomial
 * coefficient: pattern = A·x + B. Returns x, or undefined when the form is not solvable.
 */
export function dimSolve(pattern: Dim, x: string, target: Dim): Dim | undefined {
  let A: Dim = dimConst(0);
  let B: Dim = dimConst(0);
  for (const t of pattern.terms.values()) {
    const e = t.vars.get(x) ?? 0;
    const one: Dim = { terms: new Map() };
    const rest = new Map(t.vars);
    rest.delete(x);
    addTerm(one, t.c, rest);
    if (e === 0) B = dimAdd(B, one);
    else if (e === 1) A = dimAdd(A, one);
    else return undefined;
  }
  if (A.terms.size === 0) return undefined;
  return dimDiv(dimAdd(target, B, -1), A);
}

function ratStr(c: Rat): string {
  return c.d === 1 ? String(c.n) : `${c.n}/${c.d}`;
}

/** Renders a dim the way a user would write it: `KV*D/H`, `H*Dh + 1`, `64`. */
export function dimToString(a: Dim): string {
  if (a.terms.size === 0) return '0';
  const terms = [...a.terms.values()].sort((x, y) => y.vars.size - x.vars.size);
  const parts: string[] = [];
  for (const t of terms) {
    const num = [...t.vars].filter(([, e]) => e > 0).sort(([p], [q]) => (p < q ? -1 : 1));
    const den = [...t.vars].filter(([, e]) => e < 0).sort(([p], [q]) => (p < q ? -1 : 1));
    const pw = (v: string, e: number) => Array(Math.abs(e)).fill(v).join('*');
    let s = num.map(([v, e]) => pw(v, e)).join('*');
    const cn = Math.abs(t.c.n);
    if (!s) s = String(cn);
    else if (cn !== 1) s = `${cn}*${s}`;
    const dens = [...den.map(([v, e]) => pw(v, e))];
    if (t.c.d !== 1) dens.unshift(String(t.c.d));
    if (dens.length === 1) s += `/${dens[0]}`;
    else if (dens.length > 1) s += `/(${dens.join('*')})`;
    parts.push((t.c.n < 0 ? '-' : '+') + s);
  }
  let out = parts.join(' ').replace(/ \+/g, ' + ').replace(/ -/g, ' - ');
  if (out.startsWith('+')) out = out.slice(1);
  return out;
}

export { ratStr };
