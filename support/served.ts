import type { FastifyInstance } from 'fastify';

export interface Served {
  method: string;
  /** Path and query. */
  url: string;
  /** Body bytes sent (Content-Length; 0 for a 304 or an empty body). */
  bytes: number;
}

/**
 * Every response the server sent, counted on the server (add before `listen`). Unlike the page's
 * network log this also sees what the service worker fetched, so "no model bytes on the second
 * visit" and "nothing reached the server while offline" are measured where they happen.
 */
export function meterServer(server: FastifyInstance): Served[] {
  const log: Served[] = [];
  server.addHook('onResponse', async (req, reply) => {
    log.push({ method: req.method, url: req.url, bytes: Number(reply.getHeader('content-length') ?? 0) });
  });
  return log;
}

/** Model and wasm files among `log` (the content-addressed .onnx/.wasm under /assets/). */
export const modelFiles = (log: Served[]) => log.filter((r) => /^\/assets\/[^/]+\/[^/]+\.(onnx|wasm)$/.test(r.url));
