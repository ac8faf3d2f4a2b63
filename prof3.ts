import * as ohm from 'ohm-js';
import { readFileSync } from 'node:fs';
const text = readFileSync('stdlib/nn.obt', 'utf8');
for (const f of ['/tmp/obt.ohm.chain', '/tmp/obt.ohm.post']) {
  const g = ohm.grammar(readFileSync(f, 'utf8'));
  g.match(text, 'Module');
  const t = performance.now();
  let ok = true;
  for (let i = 0; i < 10; i++) ok = g.match(text + ' '.repeat(i + 1), 'Module').succeeded();
  console.log(f, ok, ((performance.now() - t) / 10).toFixed(1));
}
