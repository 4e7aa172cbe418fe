import { ImageClassificationPipeline, type ImageClassificationOptions } from '../app/image-classification.js';
import type { ImageInput } from '../data/image.js';
import type { ImgclassError } from '../util/errors.js';
import { expandPaths } from '../util/files.js';
import { forEachFile } from './each-file.js';
import { bar } from './predict.js';

export interface ClassifyCliOptions {
  model: string[];
  json?: boolean;
  topK: number;
  flip?: boolean;
}

/** `imgclass classify --model DIR PATH...`: any trained model's top classes per image, no routing. */
export async function runClassify(paths: string[], o: ClassifyCliOptions): Promise<number> {
  const files = await expandPaths(paths);
  if (files.length === 0) {
    process.stderr.write('no image files found\n');
    return 2;
  }
  const pipeline = await ImageClassificationPipeline.create(classifyPipelineOptions(o));
  try {
    const failed = await forEachFile<Record<string, unknown>>(
      'classify',
      files,
      (file) => classifyAnswer(pipeline, file),
      classifyFailure,
      (line) => process.stdout.write(o.json ? JSON.stringify(line) + '\n' : formatHuman(line)),
    );
    return failed > 0 ? 1 : 0;
  } finally {
    pipeline.dispose();
  }
}

/** The pipeline's options from classify's command-line options (`imgclass worker --task classify` builds it the same way). */
export function classifyPipelineOptions(o: Omit<ClassifyCliOptions, 'json'>): ImageClassificationOptions {
  return { modelDir: o.model, topK: o.topK, flipAverage: o.flip ?? true };
}

/** The `classify --json` line for one file; `input` is what the pipeline reads (the path, or bytes read from it or a URL). */
export async function classifyAnswer(pipeline: ImageClassificationPipeline, file: string, input: ImageInput = file): Promise<Record<string, unknown>> {
  const r = await pipeline.classify(input);
  return { file, label: r.top[0]!.name, probability: r.top[0]!.probability, top: r.top, timings: r.timings };
}

/** The `classify --json` line for a file that could not be classified. */
export function classifyFailure(file: string, e: ImgclassError, message: string): Record<string, unknown> {
  return { file, error: message, code: e.code };
}

function formatHuman(l: Record<string, unknown>): string {
  if (l.error) return `${l.file}: error: ${l.error}\n`;
  const top = l.top as { name: string; probability: number }[];
  return [`${l.file}: ${top[0]!.name}`, ...top.map((c) => `  ${(c.probability * 100).toFixed(1).padStart(5)}%  ${bar(c.probability)} ${c.name}`)].join('\n') + '\n';
}
