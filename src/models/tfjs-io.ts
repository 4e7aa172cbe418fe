import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../util/atomic.js';
import { ImgclassError } from '../util/errors.js';

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

/** The weights as float32 arrays by name (uint8/uint16-quantised weights dequantised). */
export function decodeWeights(files: Pick<LayersModelFiles, 'weightSpecs' | 'weightData'>): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  let offset = 0;
  for (const s of files.weightSpecs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const q = s.quantization;
    const bytes = n * bytesPerElement(q?.dtype ?? s.dtype);
    const slice = files.weightData.slice(offset, offset + bytes);
    offset += bytes;
    let data: Float32Array;
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16') && q.scale !== undefined && q.min !== undefined) {
      const raw = q.dtype === 'uint8' ? new Uint8Array(slice) : new Uint16Array(slice);
      data = Float32Array.from(raw, (v) => v * q.scale! + q.min!);
    } else if (s.dtype === 'float32' && !q) {
      data = new Float32Array(slice);
    } else {
      throw new ImgclassError('MODEL_CORRUPT', `weight ${s.name}: dtype ${s.dtype}${q ? ` quantised as ${q.dtype}` : ''} is not supported`);
    }
    out.set(s.name, { data, shape: s.shape });
  }
  return out;
}

export function fileLoader(dir: string): tf.io.IOHandler {
  return {
    async load() {
      const f = await readLayersModelFiles(dir);
      return { ...f, modelTopology: f.modelTopology as object };
    },
  };
}

function bytesPerElement(dtype: string): number {
  return dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' || dtype === 'uint16' ? 2 : 4;
}

/** Save handler writing `model.json` + `weights.bin` atomically (weights first, manifest last). */
export function fileSaver(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts) {
      const weightData = artifacts.weightData;
      const bytes =
        weightData instanceof ArrayBuffer ? new Uint8Array(weightData) : new Uint8Array(Buffer.concat((weightData ?? []).map((b) => new Uint8Array(b))));
      await writeFileAtomic(path.join(dir, 'weights.bin'), bytes);
      const json = {
        format: 'layers-model',
        generatedBy: 'imgclass',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        trainingConfig: artifacts.trainingConfig,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.byteLength } };
    },
  };
}
