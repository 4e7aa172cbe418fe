import path from 'node:path';
import { createDogApp, type FaceDetectorName } from '../app/dog-app.js';
import type { Quality } from '../app/quality.js';
import { buildServer } from '../server/server.js';
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
  /** Registry name of the backbone (default: the app's). */
  backbone?: string;
}

export async function runServe(o: ServeCliOptions): Promise<void> {
  const t0 = performance.now();
  const models = await resolveModelArgs(o.model ?? []);
  const app = await createDogApp({
    modelDir: models.length ? models : undefined,
    faceDetector: o.faceDetector,
    quality: o.preset,
    ...(o.backbone ? { backbone: o.backbone } : {}),
  });
  // the server's limits, declared once: it decodes every upload with them and reports them
  const server = await buildServer({ app, webRoot: path.join(PACKAGE_ROOT, 'web'), limits: { maxBytes: o.maxMb * 1e6 }, maxWaiting: o.queue });
  const address = await server.listen({ host: o.host, port: o.port });
  const d = app.describe();
  process.stdout.write(
    `imgclass ready on ${address} (models loaded in ${Math.round(performance.now() - t0)} ms: ${d.backbone}, ` +
      `faces ${d.faceDetector}, ${d.objectDetector ? `objects ${d.objectDetector}, ` : ''}breeds ${d.classifier.name}; preset ${d.quality})\n`,
  );
  const stop = async () => {
    await server.close();
    app.dispose();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
