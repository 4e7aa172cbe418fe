import { exportVerified } from '../evaluation/export-file.js';

export interface ExportCliOptions {
  out: string;
  flip?: boolean;
  verify?: string;
  verifyCount: number;
}

/**
 * `imgclass export MODEL... --out FILE.onnx`: one self-contained ONNX file, verified against the
 * trained model on TF.js before it is written; FILE.json beside it says what it is and how close.
 */
export async function runExport(models: string[], o: ExportCliOptions): Promise<number> {
  const t0 = performance.now();
  const { sidecar, bytes, info, verification: v } = await exportVerified(models, { ...o, onNote: (note) => process.stderr.write(note + '\n') });
  process.stdout.write(
    `wrote ${o.out} (${(bytes / 1e6).toFixed(1)} MB, ${info.classes.length} classes, input ` +
      `${info.input.height ?? 'H'}×${info.input.width ?? 'W'} ${info.input.resize}, flip ` +
      `${info.flip ? 'on' : 'off'}) and ${sidecar}\n` +
      `verified against TF.js on ${v.n} photos (${v.photos}): max |Δp| ${v.maxAbsDiff.toExponential(2)}, mean |Δp| ` +
      `${v.meanAbsDiff.toExponential(2)}, top-1 agreement ${(v.top1Agreement * 100).toFixed(1)}%` +
      `${v.maxAbsFeatureDiff !== undefined ? `, max |Δfeature| ${v.maxAbsFeatureDiff.toExponential(2)}` : ''} ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
  return 0;
}
