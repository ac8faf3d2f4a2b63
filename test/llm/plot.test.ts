// SVG charts: a long loss curve is drawn as one point per pixel column (the mean of its steps
// there), so the file stays small and the line keeps the curve's level.
import { expect, it } from 'vitest';
import { lineChartSvg } from '../../llm/plot.ts';

it('a 40 000-step curve becomes at most one point per pixel column, at the mean of its steps', () => {
  // a noisy constant: alternate 1 and 3 (mean 2), then a step down to a constant 1
  const pts: [number, number][] = Array.from({ length: 40_000 }, (_, i) => [i + 1, i < 20_000 ? (i % 2 ? 3 : 1) : 1]);
  const svg = lineChartSvg('t', [{ name: 'loss', color: '#000', points: pts }], 'step', 'loss');
  const d = /<path d="([^"]+)"/.exec(svg)![1]!;
  const ys = d.split(' ').map((c) => Number(c.slice(1).split(',')[1]));
  expect(ys.length).toBeLessThan(900);
  expect(ys.length).toBeGreaterThan(300);
  // the first half's points all sit at one height (the mean 2), the second half's at another (1)
  const spread = (a: number[]) => Math.max(...a) - Math.min(...a);
  const first = ys.slice(5, ys.length / 2 - 5);
  const second = ys.slice(ys.length / 2 + 5);
  expect(spread(first)).toBeLessThan(10); // pixels: near the mean of 1s and 3s, not a zigzag (~330 px)
  expect(spread(second)).toBeLessThan(1);
  expect(Math.abs(first[0]! - second[0]!)).toBeGreaterThan(50);
  expect(svg.length).toBeLessThan(30_000);
  // a short series is drawn point for point
  const short = lineChartSvg('t', [{ name: 'l', color: '#000', points: pts.slice(0, 50) }], 'step', 'loss');
  expect(/<path d="([^"]+)"/.exec(short)![1]!.split(' ')).toHaveLength(50);
});
