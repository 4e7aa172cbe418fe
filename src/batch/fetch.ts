import { STATUS_CODES } from 'node:http';
import { request, type Dispatcher } from 'undici';
import { DEFAULT_DECODE_LIMITS } from '../data/image.js';
import { ImgclassError, describeError } from '../util/errors.js';
import { checkUrl, pinnedAgent, type UrlPolicy } from './url-guard.js';

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
  /** Which addresses may be fetched (default: public ones only); every redirect is checked again. */
  policy?: UrlPolicy;
}

/** Redirects followed at most, each one checked like the first URL. */
export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The bytes of an image URL (http or https), for the same decoder as files. A URL that can never
 * work (404, 403, not http, too large, refused by the URL policy) throws an ImgclassError — a final
 * error line; one that may work later (timeout, connection refused, 5xx, 429) throws a
 * TransientError to be retried. Redirects are followed by hand so that each hop is checked and
 * connected to the address that was checked.
 */
export async function fetchImageBytes(url: string, o: FetchOptions = {}): Promise<Uint8Array> {
  const maxBytes = o.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let hop: string | URL = url;
  for (let redirects = 0; ; redirects++) {
    const checked = await checkUrl(hop, o.policy);
    const here = checked.url.href;
    const agent = pinnedAgent(checked);
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(checked.url, { dispatcher: agent, signal, headers: { accept: 'image/*' } });
      } catch (e) {
        throw new TransientError(`GET ${here}: ${signal.aborted ? `no answer within ${timeoutMs / 1000} s` : networkReason(e)}`, { cause: e });
      }
      const status = res.statusCode;
      if (REDIRECTS.has(status)) {
        await res.body.dump().catch(() => {});
        const location = res.headers.location;
        if (typeof location !== 'string') throw new ImgclassError('FETCH_FAILED', `GET ${here}: HTTP ${status} without a Location`);
        if (redirects >= MAX_REDIRECTS) throw new ImgclassError('FETCH_FAILED', `GET ${url}: more than ${MAX_REDIRECTS} redirects`);
        try {
          hop = new URL(location, checked.url);
        } catch {
          throw new ImgclassError('FETCH_FAILED', `GET ${here}: redirect to an invalid URL: ${location}`);
        }
        continue;
      }
      if (status < 200 || status > 299) {
        await res.body.dump().catch(() => {});
        const what = `GET ${here}: HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trim();
        if (RETRYABLE.has(status) || status >= 500) throw new TransientError(what);
        throw new ImgclassError('FETCH_FAILED', what);
      }
      return await readBody(res, here, maxBytes, signal, timeoutMs);
    } finally {
      void agent.close().catch(() => {});
    }
  }
}

async function readBody(res: Dispatcher.ResponseData, url: string, maxBytes: number, signal: AbortSignal, timeoutMs: number): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > maxBytes) {
    await res.body.dump().catch(() => {});
    throw tooLarge(declared, maxBytes);
  }
  // Read with a running count: a server may omit or lie about Content-Length.
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        res.body.destroy();
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
