/**
 * The offline rules, shared by the service worker (sw.ts) and device mode (device.ts), and pure so
 * that Node tests can check them: which requests the worker answers, how, and from which cache.
 */

/** Every cache of this app starts so; the worker deletes any such cache it does not know on activate. */
export const CACHE_PREFIX = 'imgclass-';
/** Content-addressed files (device bundle, onnxruntime-web, models): kept until a deploy drops them. */
export const ASSET_CACHE = `${CACHE_PREFIX}assets`;
/** The page itself and the device manifest, one cache per deploy. */
export const shellCache = (version: string) => `${CACHE_PREFIX}shell-${version}`;

/**
 * The page's own files, fetched at install. The navigation to `/` (any query) is stored as `/`.
 * `/api-client.js` is the module app.js imports (the token helper): without it the page cannot start offline.
 */
export const SHELL = ['/', '/app.js', '/api-client.js', '/style.css', '/device-manifest.json'] as const;

/**
 * - `network-first`: the page and the manifest, so an update arrives as soon as the network does;
 *   the cached copy answers when the network fails (or is too slow).
 * - `cache-first`: content-addressed URLs (`/assets/<sha256>/…`, `/ort/<version>/…`): a copy is never stale.
 * - `pass`: everything else goes to the network untouched and is never cached: any method but GET,
 *   every `/api/…` request (predictions, health, models), other origins, the worker script itself.
 */
export type Strategy = 'network-first' | 'cache-first' | 'pass';

export function strategyFor(req: { method: string; url: string }, origin: string): { strategy: Strategy; key?: string } {
  if (req.method !== 'GET') return { strategy: 'pass' };
  const url = new URL(req.url);
  if (url.origin !== origin) return { strategy: 'pass' };
  const p = url.pathname;
  if (p.startsWith('/api/') || p === '/sw.js') return { strategy: 'pass' };
  if (p.startsWith('/assets/') || p.startsWith('/ort/')) return { strategy: 'cache-first', key: url.origin + p };
  if (p === '/' || p === '/index.html') return { strategy: 'network-first', key: `${url.origin}/` };
  if ((SHELL as readonly string[]).includes(p)) return { strategy: 'network-first', key: url.origin + p };
  return { strategy: 'pass' };
}
