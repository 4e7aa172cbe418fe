import { createDogApp, type DogApp, type DogAppOptions, type DogAppResult, type FaceDetectorName } from '../app/dog-app.js';
import type { ImageInput } from '../data/image.js';
import type { ImgclassError } from '../util/errors.js';
import { filesFromArgs } from './path-args.js';
import type { Quality } from '../app/quality.js';
import { decodeFirstAhead, forEachFile } from './each-file.js';
import { nonDogModelHint, resolveModelArgs } from './models.js';

export interface PredictCliOptions {
  json?: boolean;
  topK: number;
  model?: string[];
  faceDetector: FaceDetectorName;
  flip?: boolean;
  /** Files listing more paths (one a line, or NUL-separated); `-` is standard input. */
  filesFrom?: string[];
  preset?: Quality;
  /** Registry name of the backbone (default: the app's). */
  backbone?: string;
  /** false (--no-ensemble): no breed ensemble in 'accurate' (app/dog-pipeline.ts step 6b). */
  ensemble?: boolean;
}

/** One line of `predict --json`: the app's answer plus the file, or an error for that file. */
export type PredictLine =
  | ({ file: string } & Omit<DogAppResult, 'width' | 'height'>)
  | { file: string; kind: 'error'; message: string; code: string; breeds: []; faces: []; dogProbability: null };

export async function runPredict(paths: string[], o: PredictCliOptions): Promise<number> {
  const files = await filesFromArgs(paths, o.filesFrom);
  if (files.length === 0) {
    process.stderr.write('no image files found\n');
    return 2;
  }
  const input = decodeFirstAhead(files);
  const models = await resolveModelArgs(o.model ?? []);
  const hint = await nonDogModelHint(models);
  if (hint) process.stderr.write(hint + '\n');
  const app = await createDogApp(predictAppOptions({ ...o, model: models }));
  try {
    const failed = await forEachFile<PredictLine>(
      'predict',
      files,
      async (file) => predictAnswer(app, file, await input(file)),
      predictFailure,
      (line) => process.stdout.write(o.json ? JSON.stringify(line) + '\n' : formatHuman(line)),
      async () => app.backbone.warmUp?.(),
    );
    return failed > 0 ? 1 : 0;
  } finally {
    app.dispose();
  }
}

/** The dog app's options from predict's command-line options (`imgclass worker` builds its app the same way). */
export function predictAppOptions(o: Omit<PredictCliOptions, 'json'>): DogAppOptions {
  return {
    topK: o.topK,
    faceDetector: o.faceDetector,
    modelDir: o.model?.length ? o.model : undefined,
    // --no-flip turns mirror averaging off; otherwise the backbone's tuning decides (app/tuning.ts)
    flipAverage: o.flip === false ? false : undefined,
    quality: o.preset,
    ensemble: o.ensemble === false ? false : undefined,
    ...(o.backbone ? { backbone: o.backbone } : {}),
  };
}

/** The `predict --json` line for one file; `input` is what the app reads (the path itself, or bytes already read from it or a URL). */
export async function predictAnswer(app: DogApp, file: string, input: ImageInput = file): Promise<PredictLine> {
  const { width: _w, height: _h, ...r } = await app.classify(input);
  return { file, ...r };
}

/** The `predict --json` line for a file that could not be classified. */
export function predictFailure(file: string, e: ImgclassError, message: string): PredictLine {
  return { file, kind: 'error', message, code: e.code, breeds: [], faces: [], dogProbability: null };
}

function formatHuman(l: PredictLine): string {
  const lines = [`${l.file}: ${l.kind === 'error' ? `error: ${l.message}` : l.message}`];
  if (l.kind !== 'error') {
    for (const b of l.breeds) lines.push(`  ${(b.probability * 100).toFixed(1).padStart(5)}%  ${bar(b.probability)} ${b.name}`);
    if ('humanBreeds' in l && l.humanBreeds)
      lines.push(
        '  person resembles: ' +
          l.humanBreeds
            .slice(0, 3)
            .map((b) => `${b.name} ${(b.probability * 100).toFixed(1)}%`)
            .join(', '),
      );
    if (l.faces.length) lines.push(`  faces: ${l.faces.map((f) => `${f.width}×${f.height} at (${f.x},${f.y})`).join('; ')}`);
  }
  return lines.join('\n') + '\n';
}

export function bar(p: number): string {
  const n = Math.round(p * 20);
  return '█'.repeat(n) + '·'.repeat(20 - n);
}
