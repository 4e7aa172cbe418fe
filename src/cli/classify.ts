import { ImageClassificationPipeline } from '../app/image-classification.js';
import { forEachFile } from './each-file.js';
import { filesFromArgs } from './path-args.js';
import { bar } from './predict.js';

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
  const pipeline = await ImageClassificationPipeline.create({ modelDir: o.model, topK: o.topK, flipAverage: o.flip ?? true });
  try {
    const failed = await forEachFile<Record<string, unknown>>(
      'classify',
      files,
      async (file) => {
        const r = await pipeline.classify(file);
        return { file, label: r.top[0]!.name, probability: r.top[0]!.probability, top: r.top, timings: r.timings };
      },
      (file, e, message) => ({ file, error: message, code: e.code }),
      (line) => process.stdout.write(o.json ? JSON.stringify(line) + '\n' : formatHuman(line)),
    );
    return failed > 0 ? 1 : 0;
  } finally {
    pipeline.dispose();
  }
}

function formatHuman(l: Record<string, unknown>): string {
  if (l.error) return `${l.file}: error: ${l.error}\n`;
  const top = l.top as { name: string; probability: number }[];
  return [`${l.file}: ${top[0]!.name}`, ...top.map((c) => `  ${(c.probability * 100).toFixed(1).padStart(5)}%  ${bar(c.probability)} ${c.name}`)].join('\n') + '\n';
}
