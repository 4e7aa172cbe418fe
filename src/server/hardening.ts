import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireCjs } from '../util/require-cjs.js';

const helmet = (requireCjs('@fastify/helmet') as typeof import('@fastify/helmet')).default;
const rateLimit = (requireCjs('@fastify/rate-limit') as typeof import('@fastify/rate-limit')).default;

/** What `serve` exposes and to whom: the defaults are safe for a server others can reach. */
export interface SecurityOptions {
  /** Required as `Authorization: Bearer <token>` on every /api/ request (`--token`, `$IMGCLASS_TOKEN`). */
  token?: string;
  /** Requests per client (IP address) and window on /api/: default 300 a minute; false for benchmarks that hammer the server. */
  rateLimit?: { max: number; windowMs?: number } | false;
  /** A request (headers and body) must arrive within this; default 120 s. Slow-loris clients are cut off. */
  requestTimeoutMs?: number;
}

export const DEFAULT_RATE_LIMIT = { max: 300, windowMs: 60_000 };
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/**
 * The page's Content-Security-Policy: only this origin's own scripts, styles, images, workers and
 * connections. 'wasm-unsafe-eval' lets device mode compile onnxruntime-web's WebAssembly (it
 * allows WebAssembly compilation, not JavaScript eval); blob: images are the preview of the photo
 * the user picked; nothing may frame the page.
 */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'blob:', 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'manifest-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** The Fastify constructor options this module owns (timeouts). */
export function serverTimeouts(o: SecurityOptions = {}): { requestTimeout: number; connectionTimeout: number } {
  const ms = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return { requestTimeout: ms, connectionTimeout: ms };
}

const isApiPath = (url: string) => url.startsWith('/api/') || url === '/api' || url.startsWith('/api?');

/**
 * Whether a request is for the API, by the route it matched (the router decodes the path, so
 * `/%61pi/health` reaches /api/health) and by its decoded path when it matched none.
 */
function isApi(req: FastifyRequest): boolean {
  if (isApiPath(req.routeOptions.url ?? '')) return true;
  try {
    return isApiPath(decodeURIComponent(req.url));
  } catch {
    return isApiPath(req.url);
  }
}

/**
 * Security headers on every response, a per-client rate limit and the bearer token on /api/.
 * Register before any route: the rate limit attaches to the routes declared after it.
 */
export async function harden(server: FastifyInstance, o: SecurityOptions = {}): Promise<void> {
  await server.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // the server sets COOP/COEP/CORP for cross-origin isolation itself (ISOLATION_HEADERS)
    crossOriginEmbedderPolicy: false,
    crossOriginOpenerPolicy: false,
    crossOriginResourcePolicy: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS belongs to whatever terminates TLS in front of this server; over plain HTTP it means nothing
    strictTransportSecurity: false,
  });

  if (o.rateLimit !== false) {
    const { max, windowMs } = { ...DEFAULT_RATE_LIMIT, ...o.rateLimit };
    await server.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
      // only the API costs work; the page and its static files are cached and cheap
      allowList: (req) => !isApi(req),
      addHeadersOnExceeding: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true },
    });
  }

  if (o.token) {
    const want = digest(o.token);
    // preParsing: after the rate limit has counted the request, before a byte of the body is read
    server.addHook('preParsing', async (req, reply, payload) => {
      if (!isApi(req)) return payload;
      const m = /^Bearer\s+(.+?)\s*$/i.exec(req.headers.authorization ?? '');
      if (m && timingSafeEqual(digest(m[1]!), want)) return payload;
      void reply.header('WWW-Authenticate', 'Bearer realm="imgclass"');
      // the server's error handler answers it as JSON, like every other client error
      throw Object.assign(
        new Error(m ? 'wrong bearer token' : 'this server requires Authorization: Bearer <token> on /api/ (the page: open it as /#token=<token>)'),
        { statusCode: 401 },
      );
    });
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True for a listen address only this machine can reach (loopback names and addresses). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/** The warning `serve` prints when it listens where others can reach it and asks nobody for a token. */
export function exposureWarning(host: string, o: SecurityOptions): string | null {
  if (isLoopbackHost(host) || o.token) return null;
  return (
    `imgclass: warning: listening on ${host}, reachable from other machines, without a token: anyone who can reach it ` +
    'can use the API. Set --token (or $IMGCLASS_TOKEN), or listen on 127.0.0.1 behind a proxy that authenticates.'
  );
}
