// The template registry: one record per template kernel (compiler/templates/<name>/), keyed by
// its Kernel IR kind; the mapped type makes a kind without a record a TypeScript error.
import type { Kernel } from '../kir/ir.ts';
import type { Template } from '../backends/template.ts';
import { dot } from './dot/index.ts';
import { signlinear } from './signlinear/index.ts';
import { blocksignlinear } from './blocksignlinear/index.ts';
import { attention } from './attention/index.ts';

export type TemplateKernel = Exclude<Kernel, { kind: 'loop' }>;
export type TemplateKind = TemplateKernel['kind'];

export const TEMPLATES: { [K in TemplateKind]: Template<Extract<TemplateKernel, { kind: K }>> } = {
  dot,
  signlinear,
  blocksignlinear,
  attention,
};

/** The record of a template kernel. */
export function templateOf<K extends TemplateKernel>(k: K): Template<K> {
  return TEMPLATES[k.kind as TemplateKind] as unknown as Template<K>;
}
