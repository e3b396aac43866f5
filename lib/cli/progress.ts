// A progress bar for long CLI work: drawn on stderr only when it is a terminal and only once the work
// has run for more than a second (quick runs and pipes stay quiet), with throughput in GB/s.
import process from "node:process";

/** Progress of one job in bytes. */
export class Progress {
  #label: string;
  #start = performance.now();
  #drawn = false;
  #last = 0;
  #tty: boolean;

  /** `tty` overrides the terminal check (tests). */
  constructor(label: string, tty: boolean = process.stderr.isTTY === true) {
    this.#label = label;
    this.#tty = tty;
  }

  /** Reports `done` of `total` bytes; redraws at most 10 times a second. */
  update(done: number, total: number): void {
    const now = performance.now(), elapsed = (now - this.#start) / 1000;
    if (!this.#tty || elapsed < 1 || (now - this.#last < 100 && done < total)) return;
    this.#last = now;
    this.#drawn = true;
    process.stderr.write(`\r${formatProgress(this.#label, done, total, elapsed)}`);
  }

  /** Ends the bar's line if one was drawn. */
  done(): void {
    if (this.#drawn) process.stderr.write("\n");
  }
}

/** One progress line: "label [#####.....]  42%  1.23 / 2.90 GB  0.85 GB/s". */
export function formatProgress(label: string, done: number, total: number, seconds: number): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const width = 30, full = Math.round(frac * width);
  const gb = (b: number) => (b / 1e9).toFixed(2);
  const rate = seconds > 0 ? done / 1e9 / seconds : 0;
  return `${label} [${"#".repeat(full)}${".".repeat(width - full)}] ${
    String(Math.round(frac * 100)).padStart(3)
  }%  ` +
    `${gb(done)} / ${gb(total)} GB  ${rate.toFixed(2)} GB/s`;
}
