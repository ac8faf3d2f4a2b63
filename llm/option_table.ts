// Command options declared as tables: each option once, with its flag, its value's name, its
// parser, its default and its help. The options object's type, the defaults, the flag set obtc
// parses, the usage text and the reading of the flags are all made from a table (llm/options.ts:
// obtc quantize's; llm/train_options.ts: obtc train's). Kept free of the compiler: obtc's start-up
// (usage, --help) loads it.

/** A flag's value as obtc parsed it (true: given without a value), or undefined when absent. */
export type FlagValue = string | true | undefined;
export type Read = (flag: string) => FlagValue;

/** A bad option value: the flag, what was given and what is expected. */
export class OptionError extends Error {}

export interface Option<T> {
  /** its flags: the first is the option's own (taking a value when it has an `arg`), any others
   *  are switches (`--no-eval`) */
  flags: readonly string[];
  /** the value's name in the usage text (`N`, `FILE`); none for a switch */
  arg?: string;
  help: string;
  /** the default, given the run's step count (some scale with it) */
  dflt(steps: number): T;
  /** (a method: checked bivariantly, so the table can hold options of every type) */
  read(get: Read, dflt: T): T;
  /** a run resumed from a checkpoint must have the same value (llm/train.ts) */
  resume?: boolean;
}

/** An option a resumed run must agree on. */
export const agreed = <T>(o: Option<T>): Option<T> => ({ ...o, resume: true });

export const value = (get: Read, flag: string): string | undefined => {
  const v = get(flag);
  if (v === true) throw new OptionError(`--${flag} needs a value`);
  return v;
};

/** A number option checked by `ok` (`what` says what it expects). */
export function num(
  flag: string,
  arg: string,
  dflt: number | ((steps: number) => number),
  ok: (x: number) => boolean,
  what: string,
  help: string,
): Option<number> {
  return {
    flags: [flag],
    arg,
    help,
    dflt: typeof dflt === 'number' ? () => dflt : dflt,
    read: (get, d) => {
      const v = value(get, flag);
      if (v === undefined) return d;
      const x = Number(v);
      if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new OptionError(`--${flag} ${v}: expected ${what}`);
      return x;
    },
  };
}
export const positiveInt = (flag: string, arg: string, d: number, help: string) =>
  num(flag, arg, d, (x) => Number.isInteger(x) && x > 0, 'a positive integer', help);
export const count = (flag: string, arg: string, d: number, help: string) =>
  num(flag, arg, d, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0', help);
export const positive = (flag: string, arg: string, d: number, what: string, help: string) =>
  num(flag, arg, d, (x) => x > 0, what, help);
export const nonneg = (flag: string, arg: string, d: number | ((steps: number) => number), help: string) =>
  num(flag, arg, d, (x) => x >= 0, 'a number >= 0', help);

export function text(flag: string, arg: string, dflt: string, help: string): Option<string> {
  return { flags: [flag], arg, help, dflt: () => dflt, read: (get, d) => value(get, flag) ?? d };
}
export function optionalText(flag: string, arg: string, help: string): Option<string | undefined> {
  return { flags: [flag], arg, help, dflt: () => undefined, read: (get) => value(get, flag) };
}
export function flag(name: string, help: string): Option<boolean> {
  return { flags: [name], help, dflt: () => false, read: (get) => get(name) !== undefined };
}
export function oneOf<T extends string>(name: string, options: readonly T[], dflt: T, help: string): Option<T> {
  return {
    flags: [name],
    arg: options.join('|'),
    help,
    dflt: () => dflt,
    read: (get, d) => {
      const v = value(get, name);
      if (v === undefined) return d;
      if (!options.includes(v as T)) throw new OptionError(`--${name} ${v}: expected one of ${options.join(', ')}`);
      return v as T;
    },
  };
}

/** A table of options (each declared once). */
export type OptionTable = Record<string, Option<unknown>>;
type ValueOf<O> = O extends Option<infer T> ? T : never;
/** The options object a table describes: one field per entry. */
export type OptionsOf<T extends OptionTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

const entriesOf = <T extends OptionTable>(t: T) => Object.entries(t) as [keyof T & string, Option<unknown>][];

/** Every option at its default (`steps`: the run's step count, which some defaults scale with). */
export function tableDefaults<T extends OptionTable>(t: T, steps: number): OptionsOf<T> {
  return Object.fromEntries(entriesOf(t).map(([k, e]) => [k, e.dflt(steps)])) as OptionsOf<T>;
}

/** The options from flags, over defaults `d`. */
export function readTable<T extends OptionTable>(t: T, get: Read, d: OptionsOf<T>): OptionsOf<T> {
  return Object.fromEntries(entriesOf(t).map(([k, e]) => [k, e.read(get, d[k])])) as OptionsOf<T>;
}

/** The entries a run resumed from a checkpoint must agree on (those marked `agreed`). */
export const resumeKeys = <T extends OptionTable>(t: T): (keyof T & string)[] =>
  entriesOf(t)
    .filter(([, e]) => e.resume)
    .map(([k]) => k);

/** The flags a table declares, and whether each takes a value. */
export const tableFlags = (t: OptionTable): Record<string, 'string' | 'boolean'> =>
  Object.fromEntries(
    entriesOf(t).flatMap(([, e]) => e.flags.map((f, i) => [f, i === 0 && e.arg ? 'string' : 'boolean'])),
  );

/** The options' lines of a usage text: `--flag ARG  help (default …)`, wrapped at 100 columns;
 *  `quiet` lists entries whose default is not shown (it depends on other options). */
export function tableUsage<T extends OptionTable>(t: T, d: OptionsOf<T>, indent: string, quiet: string[] = []): string {
  const col = indent.length + 27;
  return entriesOf(t)
    .map(([k, e]) => {
      const head = [`--${e.flags[0]}${e.arg ? ` ${e.arg}` : ''}`, ...e.flags.slice(1).map((f) => `--${f}`)].join(' | ');
      const dv = d[k];
      const shown = typeof dv === 'string' ? dv.replace(/^.*\/(data|stdlib)\//, '$1/') : dv;
      const given = typeof dv === 'number' || typeof dv === 'string';
      const words = `${e.help}${given && !quiet.includes(k) ? ` (default ${String(shown)})` : ''}`.split(' ');
      const lines: string[] = [];
      let line = `${indent}${head.padEnd(26)}`;
      if (line.length >= col) {
        lines.push(line.trimEnd());
        line = ' '.repeat(col - 1);
      }
      for (const w of words) {
        if (line.length + 1 + w.length > 100 && line.trim()) {
          lines.push(line);
          line = ' '.repeat(col - 1);
        }
        line += ` ${w}`;
      }
      return [...lines, line].join('\n');
    })
    .join('\n');
}
