import type CliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import { onRestoreTerminal } from './interrupt.js';

export interface Progress {
  tick(n?: number): void;
  /** A line that stays (Keras' per-epoch line): printed above the live bar, or as is without one. */
  log(line: string): void;
  stop(): void;
}

/** The bar is only drawn on an interactive terminal outside CI: logs and piped JSON stay clean. */
export function barsEnabled(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.CI;
}

/**
 * A progress bar with rate and ETA on an interactive terminal; in pipes and CI no bar, but lines
 * given to `log` are still written (one per finished epoch is what a log file should hold).
 */
export function progress(label: string, total: number, unit = 'img'): Progress {
  if (!barsEnabled() || total <= 1) return { tick() {}, log: (line) => void process.stderr.write(line + '\n'), stop() {} };
  // Loaded only to draw a bar (on a terminal): a pipe, CI and the library never pay for it.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  // A MultiBar with one bar, for its log(): lines are printed above the bar, which is redrawn below.
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} | {rate} ${unit}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
      // Ctrl-C is handled by util/interrupt (training must finish its records first)
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(total, 0, { rate: '0.0' });
  // cli-progress hides the cursor and turns line wrapping off until stop(): a Ctrl-C in between
  // must still give the terminal back (ESC[?25h shows the cursor, ESC[?7h re-enables wrapping).
  const unregister = onRestoreTerminal(() => process.stderr.write('\n\x1b[?25h\x1b[?7h'));
  const t0 = performance.now();
  let done = 0;
  let stopped = false;
  return {
    tick(n = 1) {
      done += n;
      bar.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(1) });
    },
    log(line) {
      if (stopped) process.stderr.write(line + '\n');
      else {
        multi.log(line + '\n');
        multi.update(); // print it now: the buffer is otherwise flushed only by the next redraw
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.stop();
      unregister();
    },
  };
}
