import { Redis } from 'ioredis';
import { ImgclassError, describeError } from '../util/errors.js';

/** `--redis` default: `$IMGCLASS_REDIS_URL`, else a Redis on this machine. */
export { defaultRedisUrl } from './names.js';

/** Redis URLs may carry a password: never print one. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Refuse anything but a redis:// or rediss:// URL, before any work is done. */
export function checkRedisUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ImgclassError('BAD_OPTION', `--redis: "${url}" is not a URL (expected redis://host:port or rediss://…)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ImgclassError('BAD_OPTION', `--redis: expected a redis:// or rediss:// URL, got ${u.protocol}`);
}

/**
 * A connection for a long-running worker: it waits out Redis restarts and network blips
 * (commands queue until the reconnect; `maxRetriesPerRequest: null` as BullMQ requires).
 */
export async function connectWorkerRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
  await firstConnect(redis, url);
  return redis;
}

/**
 * A connection for a short command (submit, status, results, cancel): it fails fast with a clear
 * error when Redis cannot be reached instead of retrying forever.
 */
export async function connectCommandRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: true, retryStrategy: (n) => (n > 3 ? null : 200 * n), connectTimeout: 5000 });
  await firstConnect(redis, url);
  return redis;
}

async function firstConnect(redis: Redis, url: string): Promise<void> {
  // ioredis reports every failed try as an 'error' event (ECONNREFUSED, …): keep the last for the message.
  let last: unknown;
  redis.on('error', (e) => (last = e));
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new ImgclassError('REDIS_UNAVAILABLE', `cannot reach Redis at ${redactUrl(url)}: ${describeError(last ?? e)}`, { cause: e });
  }
}
