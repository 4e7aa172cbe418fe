import { ImageClassificationPipeline, type ImageClassificationOptions } from '../app/image-classification.js';
import type { ImageInput } from '../data/image.js';
import type { ImgclassError } from '../util/errors.js';
import { filesFromArgs } from './path-args.js';
import { decodeFirstAhead, forEachFile } from './each-file.js';
import { bar } from './predict.js';
import { resolveModelArgs } from './models.js';

export interface ClassifyCliOptions {
  model: string[];
  json?: boolean;
  topK: number;
  flip?: boolean;
  /** Files listing more paths (one a line, or NUL-separated); `-` is standard input. */
  filesFrom?: string[];
}

/** `imgclass classify --model DIR PATH...`: any trained model's top classes per image, no routing. */
export async function runClassify(paths: string[], o: ClassifyCliOptions): Promise<number> {
  const files = await filesFromArgs(paths, o.filesFrom);
  if (files.length === 0) {
    process.stderr.write('no image files found\n');
    return 2;
  }
  const input = decodeFirstAhead(files);
  const pipeline = await ImageClassificationPipeline.create(classifyPipelineOptions({ ...o, model: await resolveModelArgs(o.model) }));
  try {
    const failed = await forEachFile<Record<string, unknown>>(
      'classify',
      files,
      async (file) => classifyAnswer(pipeline, file, await input(file)),
      classifyFailure,
      (line) => process.stdout.write(o.json ? JSON.stringify(line) + '\n' : formatHuman(line)),
      () => pipeline.warmUp(),
    );
    return failed > 0 ? 1 : 0;
  } finally {
    pipeline.dispose();
  }
}

/** The pipeline's options from classify's command-line options (`imgclass worker --task classify` builds it the same way). */
export function classifyPipelineOptions(o: Omit<ClassifyCliOptions, 'json'>): ImageClassificationOptions {
  return { modelDir: o.model, topK: o.topK, flipAverage: o.flip === false ? false : undefined };
}

/** The `classify --json` line for one file; `input` is what the pipeline reads (the path, or bytes read from it or a URL). */
export async function classifyAnswer(pipeline: ImageClassificationPipeline, file: string, input: ImageInput = file): Promise<Record<string, unknown>> {
  const r = await pipeline.classify(input);
  // "unknown": none of the model's classes (its calibrated ImageNet-profile test); `top` still lists the closest
  const unknown = r.unknown?.unknown ?? false;
  return {
    file,
    label: unknown ? 'unknown' : r.top[0]!.name,
    probability: unknown ? null : r.top[0]!.probability,
    top: r.top,
    ...(r.unknown ? { unknown: { ...r.unknown, score: +r.unknown.score.toFixed(4), threshold: +r.unknown.threshold.toPrecision(4) } } : {}),
    timings: r.timings,
  };
}

/** The `classify --json` line for a file that could not be classified. */
export function classifyFailure(file: string, e: ImgclassError, message: string): Record<string, unknown> {
  return { file, error: message, code: e.code };
}

function formatHuman(l: Record<string, unknown>): string {
  if (l.error) return `${l.file}: error: ${l.error}\n`;
  const top = l.top as { name: string; probability: number }[];
  const u = l.unknown as { unknown: boolean; score: number; threshold: number } | undefined;
  const head = u?.unknown ? `unknown: none of the model's classes (ImageNet view ${u.score.toFixed(3)} < ${u.threshold}); closest:` : top[0]!.name;
  return [`${l.file}: ${head}`, ...top.map((c) => `  ${(c.probability * 100).toFixed(1).padStart(5)}%  ${bar(c.probability)} ${c.name}`)].join('\n') + '\n';
}
