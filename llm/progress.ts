// A progress bar on stderr: redrawn in place on a terminal, a few plain lines otherwise.
export class Progress {
  private readonly start = performance.now();
  private lastLine = -1;
  private readonly tty: boolean;

  constructor(
    readonly label: string,
    readonly total: number,
    private readonly out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } = process.stderr,
  ) {
    this.tty = !!(out as { isTTY?: boolean }).isTTY;
  }

  update(done: number, extra = ''): void {
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const el = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (el / done) * (this.total - done) : 0;
    const width = 28;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    const line = `${this.label} [${bar}] ${done}/${this.total} ${(frac * 100).toFixed(0).padStart(3)}% ${el.toFixed(1)}s${done < this.total ? ` eta ${eta.toFixed(0)}s` : ''}${extra ? ' ' + extra : ''}`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}${done >= this.total ? '\n' : ''}`);
    else {
      const step = Math.floor(frac * 10);
      if (step !== this.lastLine || done >= this.total) {
        if (step !== this.lastLine) this.out.write(line + '\n');
        this.lastLine = step;
      }
    }
  }
}
