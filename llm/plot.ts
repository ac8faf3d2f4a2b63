// Small SVG charts — loss curves (lines) and ablation Pareto plots (labelled points, optionally a
// log axis) — with no dependencies, readable in any browser.
type Pt = [number, number];

const W = 900;
const H = 420;
// the right margin holds the legend
const M = { l: 64, r: 190, t: 40, b: 48 };
const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
const ticks = (a: number, b: number, n: number) => Array.from({ length: n + 1 }, (_, i) => a + ((b - a) * i) / n);

/** Axes, grid, labels and title around a plotting area; returns the scales and the open document. */
function frame(
  title: string,
  pts: Pt[],
  xLabel: string,
  yLabel: string,
  opts: { xFromZero?: boolean; logY?: boolean; xInt?: boolean },
): { out: string[]; sx: (x: number) => number; sy: (y: number) => number } {
  const fy = (y: number) => (opts.logY ? Math.log10(y) : y);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => fy(p[1])).filter(Number.isFinite);
  let x0 = opts.xFromZero ? Math.min(...xs, 0) : Math.min(...xs);
  let x1 = opts.xFromZero ? Math.max(...xs, 1) : Math.max(...xs);
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (!opts.xFromZero) {
    const px = (x1 - x0) * 0.08;
    x0 -= px;
    x1 += px;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => M.l + ((x - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const syRaw = (y: number) => H - M.b - ((y - y0) / (y1 - y0)) * (H - M.t - M.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (const t of ticks(y0, y1, 5)) {
    const label = opts.logY ? (10 ** t).toPrecision(3) : t.toPrecision(3);
    out.push(
      `<line x1="${M.l}" x2="${W - M.r}" y1="${syRaw(t).toFixed(1)}" y2="${syRaw(t).toFixed(1)}" stroke="#eee"/>`,
    );
    out.push(`<text x="${M.l - 6}" y="${(syRaw(t) + 4).toFixed(1)}" text-anchor="end">${label}</text>`);
  }
  for (const t of ticks(x0, x1, 5))
    out.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - M.b + 16}" text-anchor="middle">${opts.xInt ? Math.round(t) : t.toPrecision(3)}</text>`,
    );
  out.push(
    `<line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}" stroke="#333"/><line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}" stroke="#333"/>`,
  );
  out.push(`<text x="${W / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${esc(yLabel + (opts.logY ? ' (log scale)' : ''))}</text>`,
  );
  return { out, sx, sy: (y) => syRaw(fy(y)) };
}

/** One entry per distinct name, right of the plotting area. */
function legend(out: string[], all: { name: string; color: string }[], mark: 'line' | 'dot'): void {
  const items = all.filter((s, i) => all.findIndex((t) => t.name === s.name) === i);
  items.forEach((s, i) => {
    const y = M.t + 4 + i * 18;
    out.push(
      mark === 'line'
        ? `<rect x="${W - M.r + 14}" y="${y}" width="12" height="3" fill="${s.color}"/>`
        : `<circle cx="${W - M.r + 20}" cy="${y + 1}" r="4" fill="${s.color}"/>`,
    );
    out.push(`<text x="${W - M.r + 32}" y="${y + 5}">${esc(s.name)}</text>`);
  });
}

/** A long series (a 40 000-step loss curve) as the mean of its points in each pixel column, so a
 *  file holds ~W points per line, not one per step; short series are returned as they are. */
function perPixel(points: Pt[], sx: (x: number) => number): Pt[] {
  if (points.length <= W) return points;
  const bins = new Map<number, { x: number; y: number; n: number }>();
  for (const [x, y] of points) {
    const k = Math.round(sx(x));
    const b = bins.get(k) ?? { x: 0, y: 0, n: 0 };
    b.x += x;
    b.y += y;
    b.n++;
    bins.set(k, b);
  }
  return [...bins.values()].map((b): Pt => [b.x / b.n, b.y / b.n]);
}

/** Lines, one per series (loss curves); series of one name share a legend entry. */
export function lineChartSvg(
  title: string,
  series: { name: string; points: Pt[]; color: string }[],
  xLabel: string,
  yLabel: string,
): string {
  const { out, sx, sy } = frame(
    title,
    series.flatMap((s) => s.points),
    xLabel,
    yLabel,
    { xFromZero: true, xInt: true },
  );
  for (const s of series) {
    const d = perPixel(
      s.points.filter((p) => Number.isFinite(p[1])),
      sx,
    )
      .map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
  }
  legend(out, series, 'line');
  out.push('</svg>');
  return out.join('\n');
}

/** Points, one group per series, each with an optional vertical error bar and label (Pareto plots). */
export function scatterSvg(
  title: string,
  series: {
    name: string;
    color: string;
    points: { x: number; y: number; lo?: number; hi?: number; label?: string }[];
  }[],
  xLabel: string,
  yLabel: string,
  logY = false,
): string {
  const all: Pt[] = series.flatMap((s) =>
    s.points.flatMap((p): Pt[] => [
      [p.x, p.y],
      ...(p.lo !== undefined ? [[p.x, p.lo] as Pt] : []),
      ...(p.hi !== undefined ? [[p.x, p.hi] as Pt] : []),
    ]),
  );
  const { out, sx, sy } = frame(title, all, xLabel, yLabel, { logY });
  for (const s of series)
    for (const p of s.points) {
      if (p.lo !== undefined && p.hi !== undefined)
        out.push(
          `<line x1="${sx(p.x).toFixed(1)}" x2="${sx(p.x).toFixed(1)}" y1="${sy(p.lo).toFixed(1)}" y2="${sy(p.hi).toFixed(1)}" stroke="${s.color}"/>`,
        );
      out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4.5" fill="${s.color}"/>`);
      if (p.label)
        out.push(
          `<text x="${(sx(p.x) + 7).toFixed(1)}" y="${(sy(p.y) + 4).toFixed(1)}" font-size="10" fill="${s.color}">${esc(p.label)}</text>`,
        );
    }
  legend(out, series, 'dot');
  out.push('</svg>');
  return out.join('\n');
}
