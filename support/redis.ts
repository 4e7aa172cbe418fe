import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT, with the password when one is required; rediss:// with TLS. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Require this password (AUTH / requirepass). */
  password?: string;
  /** Serve TLS only (no plain port), with these PEM files; clients need not present a certificate. */
  tls?: { cert: string; key: string; ca: string };
}

const live = new Set<ChildProcess>();
// Whatever happens to the test process, no redis-server outlives it.
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * A real, throwaway Debian `redis-server` on a free port of 127.0.0.1: no persistence, its own
 * temporary directory. `stop()` kills it and removes the directory.
 */
export async function startRedis(o: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-redis-'));
  const listen = o.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        o.tls.cert,
        '--tls-key-file',
        o.tls.key,
        '--tls-ca-cert-file',
        o.tls.ca,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const child = spawn(
    'redis-server',
    [
      ...listen,
      ...(o.password ? ['--requirepass', o.password] : []),
      ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', '--protected-mode', 'yes'],
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  live.add(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    live.delete(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (e) =>
        reject(new Error(`cannot start redis-server (${e.message}); install Debian's redis-server (apt-get install redis-server; .ci/run does)`)),
      );
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
      const deadline = Date.now() + 10_000;
      const probe = () => {
        const sock = o.tls ? tls.connect({ port, host: '127.0.0.1', ca: readFileSync(o.tls.ca) }) : net.connect(port, '127.0.0.1');
        sock.once(o.tls ? 'secureConnect' : 'connect', () => {
          sock.write(`${o.password ? `AUTH ${o.password}\r\n` : ''}PING\r\n`);
          let got = '';
          sock.on('data', (d) => {
            got += d.toString();
            if (got.includes('+PONG')) {
              sock.destroy();
              resolve();
            } else if (got.includes('-')) {
              sock.destroy();
              setTimeout(probe, 50);
            }
          });
        });
        sock.once('error', () => {
          sock.destroy();
          if (Date.now() > deadline) reject(new Error(`redis-server did not answer on port ${port}: ${output}`));
          else setTimeout(probe, 50);
        });
      };
      probe();
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const auth = o.password ? `:${encodeURIComponent(o.password)}@` : '';
  return { url: `${o.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`, port, stop };
}
