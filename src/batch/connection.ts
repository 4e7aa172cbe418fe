import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { ImgclassError, describeError } from '../util/errors.js';

/** `--redis` default: `$IMGCLASS_REDIS_URL`, else a Redis on this machine. */
export { defaultRedisCa, defaultRedisUrl } from './names.js';

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

/** `--redis-ca` default: `$IMGCLASS_REDIS_CA`, the PEM file of the CA that signed a rediss:// server's certificate. */

/**
 * What a connection needs besides the URL (whose password ioredis reads, `redis://:PASSWORD@host`):
 * for `rediss://`, the CA to trust when the server's certificate is not signed by a public one.
 */
export interface RedisTls {
  /** PEM file of the certificate authority (`--redis-ca`). */
  ca?: string;
}

/** ioredis options for `url` beyond what the URL says: TLS with the deployer's CA. */
export function redisClientOptions(url: string, t: RedisTls = {}): Pick<RedisOptions, 'tls'> {
  if (!t.ca) return {};
  if (!url.startsWith('rediss://')) throw new ImgclassError('BAD_OPTION', `--redis-ca is for TLS: use a rediss:// URL, not ${redactUrl(url)}`);
  let ca: Buffer;
  try {
    ca = readFileSync(t.ca);
  } catch {
    throw new ImgclassError('BAD_OPTION', `--redis-ca: cannot read ${t.ca}`);
  }
  return { tls: { ca } };
}

/**
 * A connection for a long-running worker: it waits out Redis restarts and network blips
 * (commands queue until the reconnect; `maxRetriesPerRequest: null` as BullMQ requires).
 */
export async function connectWorkerRedis(url: string, t: RedisTls = {}): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, ...redisClientOptions(url, t) });
  await firstConnect(redis, url);
  return redis;
}

/**
 * A connection for a short command (submit, status, results, cancel): it fails fast with a clear
 * error when Redis cannot be reached instead of retrying forever.
 */
export async function connectCommandRedis(url: string, t: RedisTls = {}): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, {
    maxRetriesPerRequest: 3,
    lazyConnect: true,
    retryStrategy: (n) => (n > 3 ? null : 200 * n),
    connectTimeout: 5000,
    ...redisClientOptions(url, t),
  });
  await firstConnect(redis, url);
  return redis;
}

async function firstConnect(redis: Redis, url: string): Promise<void> {
  // ioredis reports every failed try as an 'error' event (ECONNREFUSED, …): keep the last for the message.
  let last: unknown;
  redis.on('error', (e) => (last = e));
  try {
    await redis.connect();
    // a wrong or missing password only shows on the first command (NOAUTH, WRONGPASS): ask now
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    throw new ImgclassError('REDIS_UNAVAILABLE', `cannot reach Redis at ${redactUrl(url)}: ${describeError(last ?? e)}`, { cause: e });
  }
}
