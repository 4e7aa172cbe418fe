/**
 * A bounded work queue. Inference is CPU-bound (on ORT's worker threads), so running many jobs
 * at once only adds memory; a few overlap usefully (one decodes and detects faces while another's
 * backbone pass runs). Past `maxWaiting` queued jobs a burst is refused (the server answers 503 +
 * Retry-After) instead of piling decoded images up in memory.
 */
export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`server busy: ${waiting} requests already waiting`);
  }
}

export class BoundedQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  get stats() {
    return { running: this.running, waiting: this.waiting.length, concurrency: this.concurrency, maxWaiting: this.maxWaiting };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new QueueFullError(this.waiting.length);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
