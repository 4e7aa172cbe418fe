import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { reuseBytes } from '../util/byte-pool.js';

/**
 * Worker threads that run onnxruntime sessions, so the event loop stays free while a photo is
 * inferred. A thread holds one session, or several small ones that share it (`createSession`'s
 * `thread` option: the dog app's two detectors). A thread costs a cold start ~30–40 ms of
 * bootstrap and ~50–100 ms of onnxruntime's own initialisation, all CPU, on a machine whose two
 * cores are loading the other sessions at the same time: two small models that never need to run
 * at once load faster on one thread (docs/startup.md, "Third round").
 *
 * Messages: {open, sid, model, options} → {opened, sid, inputNames, outputNames} or {opened, sid,
 * error}; {run, id, sid, feeds} → {id, outputs, reusable} or {id, error} (`reusable`: the inputs'
 * large buffers, handed back for util/byte-pool.ts); {release, sid} → {released, sid};
 * {exit}. Tensors travel as plain {type, data, dims}, their buffers transferred (outputs copied out
 * of ORT's memory first, so they can be handed over). Plain CommonJS given as source, so it runs the
 * same from TypeScript sources (tsx) and from dist/.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const sessions = new Map();
parentPort.on('message', async (msg) => {
  if (msg.exit) process.exit(0);
  if (msg.open) {
    try {
      const s = await ort.InferenceSession.create(msg.model, msg.options);
      sessions.set(msg.sid, s);
      parentPort.postMessage({ opened: true, sid: msg.sid, inputNames: s.inputNames, outputNames: s.outputNames });
    } catch (e) {
      parentPort.postMessage({ opened: true, sid: msg.sid, error: String(e && e.message || e) });
    }
    return;
  }
  if (msg.release) {
    const s = sessions.get(msg.sid);
    sessions.delete(msg.sid);
    if (s) await s.release();
    parentPort.postMessage({ released: true, sid: msg.sid });
    return;
  }
  try {
    const feeds = {};
    for (const [k, t] of Object.entries(msg.feeds)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
    const out = await sessions.get(msg.sid).run(feeds);
    const outputs = {};
    // the inputs' large buffers go back too, to be filled again (util/byte-pool.ts)
    const reusable = [];
    for (const t of Object.values(msg.feeds)) {
      const b = t.data.buffer;
      if (b instanceof ArrayBuffer && b.byteLength >= 65536 && !reusable.includes(b)) reusable.push(b);
    }
    const transfer = [...reusable];
    for (const [k, t] of Object.entries(out)) {
      const data = t.data.slice();
      outputs[k] = { type: t.type, data, dims: t.dims };
      transfer.push(data.buffer);
    }
    parentPort.postMessage({ id: msg.id, outputs, reusable }, transfer);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: String(e && e.message || e) });
  }
});
`;
const ORT_PATH = createRequire(import.meta.url).resolve('onnxruntime-node');

/** What a run returns: each output's data and shape. */
export type WireOutputs = Record<string, { data: Ort.Tensor.DataType; dims: readonly number[] }>;
/** An input as it travels: element type, data, shape. */
export interface WireFeed {
  type: string;
  data: unknown;
  dims: readonly number[];
}

type Reply =
  | { opened: true; sid: number; error?: string; inputNames?: string[]; outputNames?: string[] }
  | { released: true; sid: number }
  | { id: number; outputs?: WireOutputs; reusable?: ArrayBuffer[]; error?: string };

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/** One worker thread and the sessions it holds. */
export class SessionThread {
  private nextId = 0;
  private nextSid = 0;
  private readonly runs = new Map<number, Waiter<WireOutputs>>();
  private readonly opens = new Map<number, Waiter<{ inputNames: string[]; outputNames: string[] }>>();
  private readonly releases = new Map<number, () => void>();
  private readonly open = new Set<number>();
  private dead: Error | null = null;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(private readonly onEmpty: () => void = () => undefined) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath: ORT_PATH } });
    this.worker.on('message', (m: Reply) => this.reply(m));
    const failAll = (e: Error) => {
      this.dead ??= e;
      for (const w of [...this.runs.values(), ...this.opens.values()]) w.reject(e);
      this.runs.clear();
      this.opens.clear();
      for (const r of this.releases.values()) r();
      this.releases.clear();
    };
    this.worker.on('error', failAll);
    this.exited = new Promise((resolve) =>
      this.worker.on('exit', (code) => {
        failAll(new Error(`the onnxruntime worker exited (${code})`));
        this.onEmpty(); // a shared thread that died is not handed out again
        resolve();
      }),
    );
    this.worker.unref();
  }

  private reply(m: Reply): void {
    if ('opened' in m) {
      const w = this.opens.get(m.sid);
      this.opens.delete(m.sid);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else {
        this.open.add(m.sid);
        w?.resolve({ inputNames: m.inputNames!, outputNames: m.outputNames! });
      }
    } else if ('released' in m) {
      this.releases.get(m.sid)?.();
      this.releases.delete(m.sid);
    } else {
      const w = this.runs.get(m.id);
      this.runs.delete(m.id);
      for (const b of m.reusable ?? []) reuseBytes(b);
      if (m.error !== undefined) w?.reject(new Error(`onnxruntime: ${m.error}`));
      else w?.resolve(m.outputs!);
    }
    this.idleCheck();
  }

  /** An idle worker must not keep the process alive; a busy one must. */
  private idleCheck(): void {
    if (this.runs.size + this.opens.size + this.releases.size === 0) this.worker.unref();
    else this.worker.ref();
  }

  /** Opens a session on this thread; its input and output names, or the reason it failed. */
  openSession(model: string | Uint8Array, options: Ort.InferenceSession.SessionOptions): Promise<{ sid: number; inputNames: string[]; outputNames: string[] }> {
    if (this.dead) return Promise.reject(this.dead);
    const sid = this.nextSid++;
    return new Promise((resolve, reject) => {
      this.opens.set(sid, { resolve: (names) => resolve({ sid, ...names }), reject });
      this.idleCheck();
      this.worker.postMessage({ open: true, sid, model, options });
    });
  }

  run(sid: number, feeds: Record<string, WireFeed>, transfer: ArrayBuffer[]): Promise<WireOutputs> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.runs.set(id, { resolve, reject });
      this.idleCheck();
      this.worker.postMessage({ run: true, id, sid, feeds }, transfer);
    });
  }

  /**
   * Releases one session; the thread exits once it holds none. The worker releases and exits by
   * itself: terminating it while the native release runs aborts the whole process (an uncaught
   * Napi::Error), so terminate is only the fallback for a worker that does not exit within seconds.
   */
  async release(sid: number): Promise<void> {
    if (this.dead || !this.open.delete(sid)) return;
    await new Promise<void>((resolve) => {
      this.releases.set(sid, resolve);
      this.idleCheck();
      this.worker.postMessage({ release: true, sid });
    });
    if (this.open.size > 0 || this.opens.size > 0) return;
    this.onEmpty();
    this.worker.ref();
    this.worker.postMessage({ exit: true });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** A thread whose only session failed to open goes away at once. */
  discardIfEmpty(): void {
    if (this.open.size > 0 || this.opens.size > 0 || this.dead) return;
    this.onEmpty();
    void this.worker.terminate();
  }
}

/** Threads shared by name (`createSession`'s `thread` option), until their last session is released. */
const shared = new Map<string, SessionThread>();

/** The thread a session opens on: a new one of its own, or the named shared one. */
export function sessionThread(name?: string): SessionThread {
  if (name === undefined) return new SessionThread();
  let t = shared.get(name);
  if (!t) {
    t = new SessionThread(() => {
      if (shared.get(name) === t) shared.delete(name);
    });
    shared.set(name, t);
  }
  return t;
}
