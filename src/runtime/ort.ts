import os from 'node:os';
import { AsyncLocalStorage } from 'node:async_hooks';
import type * as Ort from 'onnxruntime-node';
import { ImgclassError } from '../util/errors.js';
import { requireCjs } from '../util/require-cjs.js';
import { openWithSessionCache, type GraphCache, type OpenRequest } from './session-cache.js';
import { sessionThread, type SessionThread, type WireFeed } from './session-thread.js';

/*
 * Telemetry off, and not only for privacy: onnxruntime 1.30's Linux telemetry (the 1DS SDK, run
 * when the first session creates the ORT environment) reads /proc/self/cmdline and matches it
 * against the std::regex `(.*)[ ]*.*[\n]*`. libstdc++'s regex recurses once or twice per character,
 * so a command line over ~30 KB (`imgclass predict photos/*.jpg` on a big folder) overflows the
 * stack and the process dies with SIGSEGV before printing anything. ORT_DISABLE_TELEMETRY=1
 * (exactly "1") skips that code. ORT reads it when the first session is created, in this thread
 * or a worker (they share the environment), so setting it here, before any session, covers every
 * command and every library user. Every onnxruntime import goes through this module.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';

/**
 * onnxruntime-node sessions, made one way everywhere. ORT is the inference engine of the whole
 * product: measured on the same tensors, a MobileNet pass takes a few ms here against ~69 ms on
 * TF.js wasm (bench:predict). Graph optimisation 'all' is where most of that comes from: it fuses
 * Conv+BN+Clip and turns convolutions into NCHWc blocks.
 *
 * onnxruntime-node runs a session on the thread that calls `run`, so sessions of real size
 * (backbones, detectors, CNNs on pixels) live on a worker thread each and the event loop stays
 * free while a photo is inferred; tiny ones (a head on 768 features: microseconds) run inline,
 * where a thread hop would cost more than the work.
 */
export interface SessionOptions {
  /** Intra-op threads; default $IMGCLASS_THREADS or the machine's cores. Tiny graphs want 1. */
  threads?: number;
  /** Run on the calling thread (only for graphs that take microseconds). */
  inline?: boolean;
  /**
   * Let idle intra-op threads spin-wait for the next parallel section (ORT's own default).
   * Off unless asked: the app runs several sessions at once (backbone, face detector, a second
   * request's work) and sharp decodes beside them on a 2-core machine, where a spinning thread
   * burns the core another session needs. Measured on the dog app, 100 photos interleaved:
   * YuNet beside the backbone with spinning off 59–60 ms per photo against 107–122 ms for the
   * other three combinations, under other load. The bare-pass floor keeps ORT's default.
   */
  spin?: boolean;
  /**
   * Keep ORT's optimised graph here (session-cache.ts) and start from it next time, skipping graph
   * optimisation. The model may then be given as a function, called only when the cache misses.
   */
  cache?: GraphCache;
  /**
   * Share a worker thread with the other sessions given the same name (small models that need not
   * run at the same time: the dog app's face and object detectors), instead of a thread of its own.
   */
  thread?: string;
}

/** What callers read of a result: the data and shape of each output. */
export type OrtOutputs = Record<string, { data: Ort.Tensor.DataType; dims: readonly number[] }>;

/**
 * An input: its element type, data and shape. Plain data, not onnxruntime's Tensor: a session on a
 * worker thread gets it as a message and makes the Tensor there, so the thread that only sends
 * photos never loads onnxruntime's native binding (it costs a cold process ~15–200 ms of dlopen
 * and initialisation before the first session could even start; docs/startup.md). An
 * onnxruntime Tensor has these three fields too, so one can be given as is.
 */
export interface Feed {
  type: 'uint8' | 'int8' | 'float32' | 'int64' | 'int32';
  data: Uint8Array | Int8Array | Float32Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}

/** A feed of `type` (no copy of `data`). */
export function feed(type: Feed['type'], data: Feed['data'], dims: readonly number[]): Feed {
  return { type, data, dims };
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Inputs' buffers may be handed to another thread: do not reuse them after the call. */
  run(feeds: Record<string, Feed | Ort.Tensor>): Promise<OrtOutputs>;
  release(): Promise<void>;
}

/** onnxruntime-node itself, loaded on first need (an inline session, a test): see `Feed`. */
let binding: Promise<typeof Ort> | undefined;
export function loadOrt(): Promise<typeof Ort> {
  binding ??= new Promise((resolve) => resolve(requireCjs('onnxruntime-node') as typeof Ort));
  return binding;
}

export function defaultThreads(): number {
  const env = Number(process.env.IMGCLASS_THREADS);
  return Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
}

function sessionOptions(o: SessionOptions): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: o.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // session config keys (onnxruntime_session_options_config_keys.h), flattened to `session.intra_op.allow_spinning`
    extra: { session: { intra_op: { allow_spinning: o.spin ? '1' : '0' } } },
  };
}

function loadError(model: string | Uint8Array, e: unknown): ImgclassError {
  const what = typeof model === 'string' ? model : 'an ONNX model';
  return new ImgclassError('MODEL_CORRUPT', `onnxruntime cannot load ${what}: ${String((e as Error).message ?? e).split('\n')[0]}`, { cause: e });
}

/** A graph: its file, its bytes, or (with `cache`) a function that makes either when the cache misses. */
export type SessionModel = string | Uint8Array | (() => Promise<string | Uint8Array>);

export async function createSession(model: SessionModel, o: SessionOptions = {}): Promise<OrtSession> {
  if (o.cache) return openWithSessionCache(model, o.cache, (r) => openSession(r, o));
  return openSession({ model: typeof model === 'function' ? await model() : model, graphOptimizationLevel: 'all' }, o);
}

/** Told when the loader it belongs to has handed a session's graph to onnxruntime (`whenSessionRequested`). */
const requestWatch = new AsyncLocalStorage<() => void>();

/**
 * Runs `load` and tells, besides its result, when it has handed its first session's graph to
 * onnxruntime (posted to the session's thread), or has finished without one. From then on the
 * session loads on its own thread, and the main thread may take on other start-up work (a server's
 * modules, which load synchronously for a few hundred milliseconds) without holding it back.
 */
export function whenSessionRequested<T>(load: () => Promise<T>): { loaded: Promise<T>; requested: Promise<void> } {
  let told!: () => void;
  const requested = new Promise<void>((resolve) => (told = resolve));
  const loaded = requestWatch.run(told, load);
  loaded.then(told, told);
  return { loaded, requested };
}

async function openSession(r: OpenRequest, o: SessionOptions): Promise<OrtSession> {
  const options: Ort.InferenceSession.SessionOptions = {
    ...sessionOptions(o),
    graphOptimizationLevel: r.graphOptimizationLevel,
    // ORT warns, on every save, that an NCHWc graph is for this machine only: the cache's key says so already
    ...(r.optimizedModelFilePath ? { optimizedModelFilePath: r.optimizedModelFilePath, logSeverityLevel: 3 as const } : {}),
  };
  if (!o.inline) return WorkerSession.start(r.model, options, o.thread);
  const ort = await loadOrt();
  try {
    const s = typeof r.model === 'string' ? await ort.InferenceSession.create(r.model, options) : await ort.InferenceSession.create(r.model, options);
    const tensors = (feeds: Record<string, Feed | Ort.Tensor>) =>
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t instanceof ort.Tensor ? t : new ort.Tensor(t.type, t.data as never, t.dims)]));
    return { inputNames: s.inputNames, outputNames: s.outputNames, run: (feeds) => s.run(tensors(feeds)), release: () => s.release() };
  } catch (e) {
    throw loadError(r.model, e);
  }
}

/** A session on a worker thread (session-thread.ts), its own or one it shares. */
class WorkerSession implements OrtSession {
  private constructor(
    private readonly thread: SessionThread,
    private readonly sid: number,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  static async start(model: string | Uint8Array, options: Ort.InferenceSession.SessionOptions, threadName?: string): Promise<WorkerSession> {
    const thread = sessionThread(threadName);
    const opening = thread.openSession(model, options);
    requestWatch.getStore()?.();
    try {
      const s = await opening;
      return new WorkerSession(thread, s.sid, s.inputNames, s.outputNames);
    } catch (e) {
      thread.discardIfEmpty();
      throw loadError(model, e);
    }
  }

  run(feeds: Record<string, Feed | Ort.Tensor>): Promise<OrtOutputs> {
    const wire: Record<string, WireFeed> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [k, t] of Object.entries(feeds)) {
      // A buffer handed over by an earlier run is detached (empty): say so rather than send nothing.
      if ((t.data as ArrayBufferView).byteLength === 0 && t.dims.reduce((a, b) => a * b, 1) > 0)
        return Promise.reject(new Error(`input ${k}: its buffer was already handed to the onnxruntime worker by an earlier run; make a new tensor per run`));
      wire[k] = { type: t.type, data: t.data, dims: t.dims };
      const buf = (t.data as Float32Array).buffer;
      if (buf instanceof ArrayBuffer && !transfer.includes(buf)) transfer.push(buf);
    }
    return this.thread.run(this.sid, wire, transfer);
  }

  release(): Promise<void> {
    return this.thread.release(this.sid);
  }
}

/** uint8 and int64 feeds, for code shared with the browser (detectors/letterbox.ts). */
export const ortTensors = {
  uint8: (data: Uint8Array, dims: readonly number[]): Feed => feed('uint8', data, dims),
  int64: (data: BigInt64Array, dims: readonly number[]): Feed => feed('int64', data, dims),
};
