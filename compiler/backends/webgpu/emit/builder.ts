// A small WGSL line builder: statements and blocks with indentation. Every WGSL text the compiler
// produces goes through it (no string concatenation of shader source elsewhere).

export class Wgsl {
  private readonly lines: string[] = [];
  private depth = 0;

  line(s: string): this {
    this.lines.push('  '.repeat(this.depth) + s);
    return this;
  }

  /** `header {` … `}` with the body indented */
  block(header: string, body: () => void): this {
    this.line(`${header} {`);
    this.depth++;
    body();
    this.depth--;
    return this.line('}');
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** A WGSL literal of a KIR scalar type. */
export function literal(value: number, dtype: 'f32' | 'i32' | 'u32' | 'bool'): string {
  if (dtype === 'bool') return value ? 'true' : 'false';
  if (dtype === 'u32') return `${value >>> 0}u`;
  if (dtype === 'i32') return value === -2147483648 ? 'i32(-2147483647 - 1)' : `${value | 0}i`;
  // non-finite values cannot be WGSL constants: read from private variables (see SPECIALS)
  if (Number.isNaN(value)) return 'bitcast<f32>(NAN_BITS)';
  if (value === Infinity) return 'bitcast<f32>(INF_BITS)';
  if (value === -Infinity) return 'bitcast<f32>(NINF_BITS)';
  if (Object.is(value, -0)) return '-0.0f';
  return `${Math.fround(value).toPrecision(9)}f`;
}

/** Module-scope declarations the non-finite literals read. */
export const SPECIALS = [
  'var<private> NAN_BITS: u32 = 0x7fc00000u;',
  'var<private> INF_BITS: u32 = 0x7f800000u;',
  'var<private> NINF_BITS: u32 = 0xff800000u;',
];
