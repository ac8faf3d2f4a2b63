// A syntax error in words: ohm's rightmost failures (the terminals and described rules that could
// have continued the parse) grouped into what a person would name — "an expression", "an
// operator", "a type", "a dimension or a type", "a new declaration" — with the token before the
// failure as context: "expected an expression after `=`, found end of file".

/** What may start an expression (the descriptions are the grammar's token rules'). */
const EXPR_START = ['a name', 'a number', 'an integer', 'a string', 'true', 'false', '(', '[', '{', '!', '-', 'fn'];
/** What may continue one: the binary operators and the postfix forms. */
const OPERATORS = ['**', '@', '%', '/', '*', '>', '<', '>=', '<=', '!=', '==', '-', '+', '||', '&&'];
const POSTFIX = ['.', '[', '(', '{'];
const DECLARATION = ['end of input', 'fn', 'pub', 'struct', 'import'];

export interface Failure {
  /** 'string' for a terminal, 'description' for a described rule, … */
  type: string;
  text: string;
}

/** The expected set in words, e.g. "`)`, `,` or an operator". */
export function expectedInWords(failures: Failure[]): string {
  // spaces are never what was missing (a postfix operator's lookahead tries them: obt.ohm's Postfix)
  const set = new Set(failures.map((f) => f.text).filter((t) => t.trim() !== '' && t !== 'a space'));
  const words: string[] = [];
  const group = (when: boolean, members: string[], word: string) => {
    if (!when) return;
    for (const m of members) set.delete(m);
    words.push(word);
  };
  const has = (...xs: string[]) => xs.every((x) => set.has(x));
  group(has('a name', '(', '-'), EXPR_START, 'an expression');
  group(OPERATORS.filter((o) => set.has(o)).length >= 5, [...OPERATORS, ...POSTFIX], 'an operator');
  group(has('end of input', 'fn'), DECLARATION, 'a new declaration (`fn`, `struct` or `import`)');
  group(has('a name', 'an integer', '('), ['a name', 'an integer', '(', '[', '...'], 'a dimension or a type');
  group(has('a name', '[', '('), ['a name', '[', '('], 'a type');
  group(has('end of input'), ['end of input'], 'the end of the file');
  const rest = [...set].map((t) => (failures.find((f) => f.text === t)?.type === 'string' ? `\`${t}\`` : t));
  // literal tokens first (`)`, `,`), then the groups
  return list([...rest, ...words]);
}

function list(xs: string[]): string {
  if (xs.length <= 1) return xs[0] ?? 'something else';
  return `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`;
}

/** The token that ends right before pos (spaces skipped), for "after `=`"; undefined at the start. */
export function tokenBefore(text: string, pos: number): string | undefined {
  let i = pos;
  while (i > 0 && /\s/.test(text[i - 1]!)) i--;
  if (i === 0) return undefined;
  const word = /[A-Za-z0-9_.]+$/.exec(text.slice(Math.max(0, i - 40), i));
  if (word && /\w/.test(text[i - 1]!)) return word[0].replace(/^\.+/, '');
  const op = /(\*\*|->|==|!=|<=|>=|&&|\|\||\.\.\.|\S)$/.exec(text.slice(Math.max(0, i - 3), i));
  return op?.[0];
}
