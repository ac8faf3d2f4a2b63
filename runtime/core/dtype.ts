// The element types of obt tensors, shared by the checker, the Core IR and every runtime.
export const DTYPES = ['f32', 'f16', 'i32', 'u32', 'bool', 'sign'] as const;
export type DType = (typeof DTYPES)[number];
export const isDType = (s: string): s is DType => (DTYPES as readonly string[]).includes(s);
export const isFloat = (d: DType): boolean => d === 'f32' || d === 'f16';
export const isInt = (d: DType): boolean => d === 'i32' || d === 'u32';
