/**
 * Ctrl-C for long commands. Node's default SIGINT kills the process at once: a progress bar's
 * hidden cursor and disabled line wrapping stay that way, and a training run loses the records of
 * the epochs it finished. The command line installs this handler instead:
 *
 * - first Ctrl-C: whoever registered with `onInterrupt` (the training loop) is asked to stop at
 *   the next safe point and to flush its records; with nobody registered, the terminal is
 *   restored and the process exits 130 (128 + SIGINT, the shell convention);
 * - second Ctrl-C: exit 130 at once (the terminal is still restored, from the 'exit' hook).
 *
 * Library users who never call `installInterruptHandler` keep Node's default behaviour.
 */
type Handler = () => void;

const handlers = new Set<Handler>();
const restorers = new Set<() => void>();
let installed = false;
let interrupts = 0;

export const INTERRUPTED_EXIT_CODE = 130;

export function installInterruptHandler(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts === 1 && handlers.size > 0) {
      for (const h of [...handlers]) h();
      return;
    }
    restoreTerminal();
    process.stderr.write(interrupts === 1 ? '\ninterrupted\n' : '\ninterrupted again: stopping now\n');
    process.exit(INTERRUPTED_EXIT_CODE);
  });
  process.on('exit', restoreTerminal);
}

/** Ask to be told of the first Ctrl-C instead of being killed by it. Returns the unregister function. */
export function onInterrupt(h: Handler): () => void {
  handlers.add(h);
  return () => handlers.delete(h);
}

/** Something that changed the terminal (a progress bar) says how to put it back. Returns the unregister function. */
export function onRestoreTerminal(r: () => void): () => void {
  restorers.add(r);
  return () => restorers.delete(r);
}

function restoreTerminal(): void {
  for (const r of [...restorers]) {
    try {
      r();
    } catch {
      // restoring is best effort: never mask the exit itself
    }
  }
  restorers.clear();
}
