import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
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
  url: string;
  port: number;
  stop(): Promise<void>;
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
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', '--protected-mode', 'yes'],
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
        const sock = net.connect(port, '127.0.0.1');
        sock.once('connect', () => {
          sock.write('PING\r\n');
          sock.once('data', (d) => {
            sock.destroy();
            if (d.toString().startsWith('+PONG')) resolve();
            else setTimeout(probe, 50);
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
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}
