import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';
import { bytesPerElement, layersModelJson, weightBytes } from './layers-weights.js';

export { decodeWeights, layersModelJson, weightBytes } from './layers-weights.js';

/**
 * TF.js model I/O on the local file system without tfjs-node (which cannot be installed here):
 * `model.json` + the weight shards it lists. Loading checks that every shard is present and has
 * the byte length the manifest implies, so a truncated download or a corrupt checkpoint is a
 * clear error instead of garbage weights.
 */
/** A TF.js layers model as files: its topology, the weight specs, and all weight bytes in order. */
export interface LayersModelFiles {
  modelTopology: unknown;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: tf.io.TrainingConfig;
}

/**
 * Read `model.json` + its shards from `dir` without TF.js (the ONNX engine converts from these).
 * Checks every shard is present and has the byte length the manifest implies, so a truncated
 * download or a corrupt checkpoint is a clear error instead of garbage weights.
 */
export async function readLayersModelFiles(dir: string): Promise<LayersModelFiles> {
  const jsonPath = path.join(dir, 'model.json');
  let json: {
    modelTopology?: unknown;
    weightsManifest?: tf.io.WeightsManifestConfig;
    format?: string;
    generatedBy?: string;
    convertedBy?: string | null;
    trainingConfig?: tf.io.TrainingConfig;
  };
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ImgclassError(
      missing ? 'MODEL_NOT_FOUND' : 'MODEL_CORRUPT',
      missing ? `model file not found: ${jsonPath}` : `model file is not valid JSON: ${jsonPath}`,
      { cause: e },
    );
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new ImgclassError('MODEL_CORRUPT', `${jsonPath} has no modelTopology or weightsManifest`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      try {
        buffers.push(await readFile(path.join(dir, p)));
      } catch (e) {
        throw new ImgclassError('MODEL_NOT_FOUND', `weight file not found: ${path.join(dir, p)}`, { cause: e });
      }
    }
  }
  const all = Buffer.concat(buffers);
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.quantization?.dtype ?? s.dtype), 0);
  if (all.byteLength !== expected)
    throw new ImgclassError('MODEL_CORRUPT', `weights in ${dir} are ${all.byteLength} bytes; model.json describes ${expected} (truncated or corrupt)`);
  return {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
  };
}

export function fileLoader(dir: string): tf.io.IOHandler {
  return {
    async load() {
      const f = await readLayersModelFiles(dir);
      return { ...f, modelTopology: f.modelTopology as object };
    },
  };
}


/** Save handler writing `model.json` + `weights.bin` atomically (weights first, manifest last). */
export function fileSaver(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts) {
      const bytes = weightBytes(artifacts);
      await writeFileAtomic(path.join(dir, 'weights.bin'), bytes);
      await writeFileAtomic(path.join(dir, 'model.json'), layersModelJson(artifacts));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.byteLength } };
    },
  };
}
