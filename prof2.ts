import { readFileSync } from 'node:fs';
import { parseModule } from './compiler/syntax/parse.ts';
const text = readFileSync('stdlib/nn.obt', 'utf8');
let t = performance.now();
for (let i = 0; i < 10; i++) parseModule({ path: 'a.obt', text: text + ' '.repeat(i + 1) });
console.log('parse nn', ((performance.now() - t) / 10).toFixed(1));
