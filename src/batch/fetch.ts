import { DEFAULT_DECODE_LIMITS } from '../data/image.js';
import { ImgclassError, describeError } from '../util/errors.js';

/** A failure worth another try later (timeouts, refused connections, 5xx, 429): the job is retried with backoff. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

/** HTTP statuses that say "try again later" rather than "this URL is wrong". */
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

export interface FetchOptions {
  /** The decoder's byte limit applies before a single byte is decoded, as for files and uploads. */
  maxBytes?: number;
  timeoutMs?: number;
}

/**
 * The bytes of an image URL (http or https), for the same decoder as files. A URL that can never
 * work (404, 403, not http, too large) throws an ImgclassError — a final error line; one that may
 * work later (timeout, connection refused, 5xx, 429) throws a TransientError to be retried.
 */
export async function fetchImageBytes(url: string, o: FetchOptions = {}): Promise<Uint8Array> {
  const maxBytes = o.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes;
  const timeoutMs = o.timeoutMs ?? 30_000;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ImgclassError('FETCH_FAILED', `not a valid URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ImgclassError('FETCH_FAILED', `only http and https URLs are fetched, not ${u.protocol}`);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(u, { signal, redirect: 'follow', headers: { accept: 'image/*' } });
  } catch (e) {
    throw new TransientError(`GET ${url}: ${signal.aborted ? `no answer within ${timeoutMs / 1000} s` : networkReason(e)}`, { cause: e });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    const what = `GET ${url}: HTTP ${res.status} ${res.statusText}`.trim();
    if (RETRYABLE.has(res.status) || res.status >= 500) throw new TransientError(what);
    throw new ImgclassError('FETCH_FAILED', what);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(declared, maxBytes);
  }
  // Read with a running count: a server may omit or lie about Content-Length.
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const reader = res.body?.getReader();
    for (;;) {
      const { done, value: chunk } = reader ? await reader.read() : { done: true as const, value: undefined };
      if (done) break;
      total += chunk.byteLength;
      if (total > maxBytes) {
        await reader?.cancel().catch(() => {});
        throw tooLarge(total, maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof ImgclassError) throw e;
    throw new TransientError(`GET ${url}: the download broke off: ${signal.aborted ? `no answer within ${timeoutMs / 1000} s` : networkReason(e)}`, {
      cause: e,
    });
  }
  return Buffer.concat(chunks, total);
}

function tooLarge(bytes: number, maxBytes: number): ImgclassError {
  return new ImgclassError('TOO_MANY_BYTES', `image is over ${(bytes / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(1)} MB`);
}

function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? describeError(e);
}
