/**
 * The service worker (`GET /sw.js`): the page works offline after the first visit. Bundled by
 * esbuild on the server (server/device-assets.ts), which builds this deploy's OfflineConfig into it.
 *
 * - Install: the page, its script and style, and the device manifest go into a cache named by the
 *   deploy's hash; device mode's code (bundle, onnxruntime-web's scripts) into the asset cache.
 * - Activate: every other `imgclass-` cache is deleted (older deploys), and from the asset cache every
 *   file this deploy no longer lists (older models).
 * - Fetch: content-addressed files cache-first (the models and the wasm are stored on first use);
 *   the page and the manifest network-first with the cached copy as fallback. Anything else, every
 *   `/api/…` request and any POST, is not touched (strategyFor in offline.ts).
 *
 * Every response served from a cache carries the cross-origin isolation headers, so the page is
 * cross-origin isolated offline too and onnxruntime-web keeps its threads.
 */
import { ISOLATION_HEADERS, type OfflineConfig } from '../app/device-manifest.js';
import { ASSET_CACHE, CACHE_PREFIX, SHELL, shellCache, strategyFor } from './offline.js';

declare const __IMGCLASS_OFFLINE__: OfflineConfig;
const config = __IMGCLASS_OFFLINE__;

// The few service-worker types used here (the DOM lib has none of them, and the WebWorker lib clashes with it).
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(r: Response | Promise<Response>): void;
}
interface ServiceWorkerScope {
  readonly location: { origin: string };
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', fn: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', fn: (e: FetchEvent) => void): void;
}
const sw = self as unknown as ServiceWorkerScope;
const SHELL_CACHE = shellCache(config.version);
/** How long the page waits for the network before a cached copy answers instead (a bad connection, not none). */
const NETWORK_TIMEOUT_MS = 4000;

sw.addEventListener('install', (e) => {
  e.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL_CACHE);
      // no manifest when device mode could not be built: the page alone still works offline
      const pages = SHELL.filter((u) => config.keep || u !== '/device-manifest.json');
      await shell.addAll(pages.map((u) => new Request(u, { cache: 'no-cache' })));
      const assets = await caches.open(ASSET_CACHE);
      for (const url of config.precache) if (!(await assets.match(url))) await assets.add(url);
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (e) => {
  e.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== SHELL_CACHE && name !== ASSET_CACHE) await caches.delete(name);
      }
      if (config.keep) {
        const keep = new Set(config.keep.map((u) => new URL(u, sw.location.origin).href));
        const assets = await caches.open(ASSET_CACHE);
        for (const req of await assets.keys()) if (!keep.has(req.url)) await assets.delete(req);
      }
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (e) => {
  const { strategy, key } = strategyFor(e.request, sw.location.origin);
  if (strategy === 'pass' || !key || e.request.headers.has('range')) return;
  e.respondWith(strategy === 'cache-first' ? cacheFirst(e, key) : networkFirst(e, key));
});

async function cacheFirst(e: FetchEvent, key: string): Promise<Response> {
  const cache = await caches.open(ASSET_CACHE);
  const hit = await cache.match(key);
  if (hit) return isolated(hit);
  const res = await fetch(e.request);
  if (res.ok && res.type === 'basic') e.waitUntil(cache.put(key, res.clone()));
  return res;
}

async function networkFirst(e: FetchEvent, key: string): Promise<Response> {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(key);
  try {
    const res = await withTimeout(fetch(e.request), cached ? NETWORK_TIMEOUT_MS : 0);
    if (res.ok && res.type === 'basic') e.waitUntil(cache.put(key, res.clone()));
    return res;
  } catch (err) {
    if (cached) return isolated(cached);
    throw err; // never seen online, and no network: the browser's own offline error
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  if (!ms) return p;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from the network in ${ms} ms`)), ms);
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/** The response with COOP/COEP/CORP set (a copy only when one is missing). */
function isolated(res: Response): Response {
  const headers = new Headers(res.headers);
  let missing = false;
  for (const [k, v] of Object.entries(ISOLATION_HEADERS)) {
    if (headers.get(k) !== v) {
      headers.set(k, v);
      missing = true;
    }
  }
  return missing ? new Response(res.body, { status: res.status, statusText: res.statusText, headers }) : res;
}
