import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number): void;
  stop(): void;
}

/**
 * A progress bar with rate and ETA on an interactive terminal; silent when stderr is not a TTY
 * or in CI, so logs and piped JSON stay clean.
 */
export function progress(label: string, total: number, unit = 'img'): Progress {
  const enabled = Boolean(process.stderr.isTTY) && !process.env.CI && total > 1;
  if (!enabled) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} | {rate} ${unit}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(total, 0, { rate: '0.0' });
  let done = 0;
  return {
    tick(n = 1) {
      done += n;
      bar.update(done, { rate: (done / ((performance.now() - t0) / 1000)).toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}
