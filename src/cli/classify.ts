import { ImageClassificationPipeline } from '../app/image-classification.js';
import { expandPaths } from '../util/files.js';
import { forEachFile } from './each-file.js';
import { bar } from './predict.js';
import { resolveModelArgs } from './models.js';

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
  const pipeline = await ImageClassificationPipeline.create({ modelDir: await resolveModelArgs(o.model), topK: o.topK, flipAverage: o.flip === false ? false : undefined });
  try {
    const failed = await forEachFile<Record<string, unknown>>(
      'classify',
      files,
      async (file) => {
        const r = await pipeline.classify(file);
        // "unknown": none of the model's classes (its calibrated ImageNet-profile test); `top` still lists the closest
        const unknown = r.unknown?.unknown ?? false;
        return { file, label: unknown ? 'unknown' : r.top[0]!.name, probability: unknown ? null : r.top[0]!.probability, top: r.top, ...(r.unknown ? { unknown: { ...r.unknown, score: +r.unknown.score.toFixed(4), threshold: +r.unknown.threshold.toPrecision(4) } } : {}), timings: r.timings };
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
  const u = l.unknown as { unknown: boolean; score: number; threshold: number } | undefined;
  const head = u?.unknown ? `unknown: none of the model's classes (ImageNet view ${u.score.toFixed(3)} < ${u.threshold}); closest:` : top[0]!.name;
  return [`${l.file}: ${head}`, ...top.map((c) => `  ${(c.probability * 100).toFixed(1).padStart(5)}%  ${bar(c.probability)} ${c.name}`)].join('\n') + '\n';
}
