import { createDogApp, type DogAppOptions, type DogAppResult, type FaceDetectorName } from '../app/dog-app.js';
import type { Quality } from '../app/quality.js';
import { expandPaths } from '../util/files.js';
import { forEachFile } from './each-file.js';
import { nonDogModelHint, resolveModelArgs } from './models.js';

export interface PredictCliOptions {
  json?: boolean;
  topK: number;
  model?: string[];
  faceDetector: FaceDetectorName;
  flip?: boolean;
  preset?: Quality;
}

/** One line of `predict --json`: the app's answer plus the file, or an error for that file. */
export type PredictLine = ({ file: string } & Omit<DogAppResult, 'width' | 'height'>) | { file: string; kind: 'error'; message: string; code: string; breeds: []; faces: []; dogProbability: null };

export async function runPredict(paths: string[], o: PredictCliOptions): Promise<number> {
  const files = await expandPaths(paths);
  if (files.length === 0) {
    process.stderr.write('no image files found\n');
    return 2;
  }
  const models = await resolveModelArgs(o.model ?? []);
  const hint = await nonDogModelHint(models);
  if (hint) process.stderr.write(hint + '\n');
  const appOptions: DogAppOptions = { topK: o.topK, faceDetector: o.faceDetector, modelDir: models.length ? models : undefined, flipAverage: o.flip ?? true, quality: o.preset };
  const app = await createDogApp(appOptions);
  try {
    const failed = await forEachFile<PredictLine>(
      'predict',
      files,
      async (file) => {
        const { width: _w, height: _h, ...r } = await app.classify(file);
        return { file, ...r };
      },
      (file, e, message) => ({ file, kind: 'error', message, code: e.code, breeds: [], faces: [], dogProbability: null }),
      (line) => process.stdout.write(o.json ? JSON.stringify(line) + '\n' : formatHuman(line)),
    );
    return failed > 0 ? 1 : 0;
  } finally {
    app.dispose();
  }
}

function formatHuman(l: PredictLine): string {
  const lines = [`${l.file}: ${l.kind === 'error' ? `error: ${l.message}` : l.message}`];
  if (l.kind !== 'error') {
    for (const b of l.breeds) lines.push(`  ${(b.probability * 100).toFixed(1).padStart(5)}%  ${bar(b.probability)} ${b.name}`);
    if ('humanBreeds' in l && l.humanBreeds) lines.push('  person resembles: ' + l.humanBreeds.slice(0, 3).map((b) => `${b.name} ${(b.probability * 100).toFixed(1)}%`).join(', '));
    if (l.faces.length) lines.push(`  faces: ${l.faces.map((f) => `${f.width}×${f.height} at (${f.x},${f.y})`).join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

export function bar(p: number): string {
  const n = Math.round(p * 20);
  return '█'.repeat(n) + '·'.repeat(20 - n);
}
