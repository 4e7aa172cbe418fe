import path from 'node:path';
import { createDogApp, type FaceDetectorName } from '../app/dog-app.js';
import type { Quality } from '../app/quality.js';
import type { SecurityOptions } from '../server/hardening.js';
import { loadSharp } from '../runtime/sharp.js';
import { PACKAGE_ROOT } from './defaults.js';
import { resolveModelArgs } from './models.js';

export interface ServeCliOptions {
  host: string;
  port: number;
  model?: string[];
  faceDetector: FaceDetectorName;
  maxMb: number;
  queue: number;
  preset?: Quality;
  token?: string;
  rateLimit: number;
  requestTimeout: number;
  /** Registry name of the backbone (default: the app's). */
  backbone?: string;
  /** false (--no-ensemble): no breed ensemble in 'accurate' (app/dog-pipeline.ts step 6b). */
  ensemble?: boolean;
  /** Where the Train view keeps its runs. */
  runs: string;
}

export async function runServe(o: ServeCliOptions): Promise<void> {
  const t0 = performance.now();
  // The server's code (fastify and its plugins: a few hundred milliseconds of synchronous require)
  // is imported while the models load on their worker threads, once their graphs are on their way
  // there: begun earlier, it would hold back the loaders' file reads, and the models with them.
  let server$: Promise<typeof import('../server/server.js')> | undefined;
  const importServer = () => {
    server$ ??= import('../server/server.js');
    server$.catch(() => undefined); // reported where it is awaited, after the models
    return server$;
  };
  const models = await resolveModelArgs(o.model ?? []);
  const app = await createDogApp({
    modelDir: models.length ? models : undefined,
    faceDetector: o.faceDetector,
    quality: o.preset,
    ensemble: o.ensemble === false ? false : undefined,
    ...(o.backbone ? { backbone: o.backbone } : {}),
    onSessionsRequested: () => void importServer(),
  });
  const { buildServer } = await importServer();
  // the server's limits, declared once: it decodes every upload with them and reports them
  const security: SecurityOptions = {
    token: o.token ?? (process.env.IMGCLASS_TOKEN || undefined),
    rateLimit: o.rateLimit > 0 ? { max: o.rateLimit, windowMs: 60_000 } : false,
    requestTimeoutMs: o.requestTimeout * 1000,
  };
  const { exposureWarning } = await import('../server/hardening.js');
  const warning = exposureWarning(o.host, security);
  if (warning) process.stderr.write(`${warning}\n`);
  const server = await buildServer({
    app,
    webRoot: path.join(PACKAGE_ROOT, 'web'),
    limits: { maxBytes: o.maxMb * 1e6 },
    maxWaiting: o.queue,
    security,
    train: { runsDir: o.runs },
  });
  const address = await server.listen({ host: o.host, port: o.port });
  const d = app.describe();
  process.stdout.write(
    `imgclass ready on ${address} (train view: ${address}/train.html, runs in ${path.resolve(o.runs)}; models loaded in ${Math.round(performance.now() - t0)} ms: ${d.backbone}, ` +
      `faces ${d.faceDetector}, ${d.objectDetector ? `objects ${d.objectDetector}, ` : ''}breeds ${d.classifier.name}; preset ${d.quality})\n`,
  );
  // What loads on first use loads now, after "ready", so that no request waits for it: the image
  // decoder (sharp), and the breed ensemble's backbones (step 6b). A member that fails to load is
  // said here; the first dog that needs it tries again and reports the error.
  void loadSharp();
  app.warmUp().catch((e: unknown) => process.stderr.write(`imgclass: ${(e as Error).message ?? String(e)}\n`));
  const stop = async () => {
    await server.close();
    app.dispose();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
