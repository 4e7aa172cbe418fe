import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadImage, type RgbImage } from '../src/data/image.js';
import { PREPROCESSING_PRESETS, type Preprocessing } from '../src/data/preprocess.js';
import { verifyExport, argmax } from '../src/evaluation/verify-export.js';
import { openPredictor } from '../src/evaluation/predict-files.js';
import { createDogApp } from '../src/app/dog-app.js';
import { ImageClassificationPipeline } from '../src/app/image-classification.js';
import { loadBackbone, type Backbone } from '../src/models/backbone.js';
import { imagenetHeadFromLayers } from '../src/models/backbone-graph.js';
import { loadTfjsReference } from '../src/models/classifier-tfjs.js';
import { saveEnsemble } from '../src/models/classifier.js';
import { buildExport } from '../src/models/export.js';
import { ImageClassifier } from '../src/models/image-classifier.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, saveModelDir, type ModelInput } from '../src/models/model-dir.js';
import { emitKerasModel, kerasToOnnx } from '../src/models/onnx/from-keras.js';
import { GraphBuilder } from '../src/models/onnx/graph.js';
import { registerModel, registryEntry, type RegistryEntry } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { decodeWeights, readLayersModelFiles } from '../src/models/tfjs-io.js';
import { featureHead, imagenetInitHead, seedOtsuCnn, seedScratchCnn } from '../src/training/architectures.js';
import { initTf, tf } from '../src/runtime/tf.js';
import { sampleClassFolders, sharedDataDir } from './shared.js';

// Every ONNX conversion is checked against TF.js (the engine training uses) on real photos:
// dogs (ImageNet val), an LFW face, a negative and a wide vehicle photo.
const data = sharedDataDir();
const photoFiles = [
  ...sampleClassFolders(path.join(data, 'imagewoof/val'), 1)
    .slice(0, 3)
    .map((s) => s.file),
  sampleClassFolders(path.join(data, 'lfw'), 1)[0]!.file,
  sampleClassFolders(path.join(data, 'negatives'), 1)[0]!.file,
  sampleClassFolders(path.join(data, 'vehicles'), 1)[0]!.file,
];
const TOLERANCE = 1e-4;
let photos: RgbImage[];
let root: string;
const MOBILENET = 'mobilenet_v1_0.75_224';

before(async () => {
  await initTf();
  photos = await Promise.all(photoFiles.map((f) => loadImage(f)));
  root = await mkdtemp(path.join(os.tmpdir(), 'imgclass-onnx-'));
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function compareBackbones(onnx: Backbone, ref: Backbone) {
  const [a, b] = [await onnx.run(photos), await ref.run(photos)];
  for (let i = 0; i < photos.length; i++) {
    const dp = maxAbsDiff(a[i]!.probabilities, b[i]!.probabilities);
    const df = maxAbsDiff(a[i]!.features, b[i]!.features);
    assert.ok(dp <= TOLERANCE && df <= TOLERANCE, `${photoFiles[i]}: max |Δp| ${dp}, max |Δfeature| ${df}`);
    assert.equal(argmax(a[i]!.probabilities), argmax(b[i]!.probabilities));
  }
}

test('MobileNet converted to ONNX gives TF.js probabilities and features (centre crop and free-size whole photo)', async () => {
  for (const resize of ['center-crop', 'keep-aspect'] as const) {
    const [onnx, ref] = [await loadBackbone(MOBILENET, { resize }), await loadBackbone(MOBILENET, { resize, engine: 'tfjs' })];
    try {
      await compareBackbones(onnx, ref);
    } finally {
      onnx.dispose();
      ref.dispose();
    }
  }
});

/** Random weights everywhere, BatchNorm statistics included (untrained BN would be an identity and hide mistakes). */
function randomise(model: tfl.LayersModel, seed: number) {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const layer of model.layers) {
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        const isVar = layer.getClassName() === 'BatchNormalization' && i === 3;
        const scale = layer.getClassName() === 'BatchNormalization' ? 0.5 : 0.3;
        return tf.tensor(
          Float32Array.from({ length: w.size }, () => (isVar ? 0.5 + rand() : (rand() - 0.5) * 2 * scale)),
          w.shape,
        );
      }),
    );
  }
}

async function saveModel(
  name: string,
  model: tfl.LayersModel,
  input: ModelInput,
  preprocessing: Preprocessing,
  classes: number,
  backbone: string | null,
): Promise<string> {
  const dir = path.join(root, name);
  const cls = Array.from({ length: classes }, (_, i) => ({ name: `class${i}` }));
  await saveModelDir(dir, model, {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    backbone,
    input,
    preprocessing,
    classes: cls,
    createdAt: new Date().toISOString(),
  });
  model.dispose();
  return dir;
}

const mobilenetPre = () => registryEntry(MOBILENET).backbone!.preprocessing;

/** The ONNX engine's unit, its exported file, and TF.js agree on real photos. */
async function checkModel(dirs: string[]) {
  const [onnx, ref] = [await ImageClassifier.load({ model: dirs }), await loadTfjsReference(dirs, true)];
  try {
    const [a, b] = [await onnx.classify(photos), await ref.classify(photos)];
    for (let i = 0; i < photos.length; i++) {
      const d = maxAbsDiff(a[i]!.probabilities, b[i]!.probabilities);
      assert.ok(d <= TOLERANCE, `${dirs.join('+')} on ${photoFiles[i]}: engine vs TF.js max |Δp| ${d}`);
      assert.equal(argmax(a[i]!.probabilities), argmax(b[i]!.probabilities));
    }
  } finally {
    onnx.dispose();
    ref.dispose();
  }
  const built = await buildExport(dirs);
  const v = await verifyExport(built.bytes, built.info, photos, 'test photos');
  assert.ok(v.maxAbsDiff <= TOLERANCE, `${dirs.join('+')}: export vs TF.js max |Δp| ${v.maxAbsDiff}`);
  assert.equal(v.top1Agreement, 1);
}

test('every head architecture converts: seed head, linear, ImageNet-initialised, features+probabilities, and an ensemble', async () => {
  const head = featureHead({ inputDim: 768, classes: 3, hidden: 32, dropout: 0.3 });
  randomise(head, 1);
  const headDir = await saveModel('head', head, 'features', mobilenetPre(), 3, MOBILENET);
  const linear = featureHead({ inputDim: 768, classes: 3, hidden: 0 });
  randomise(linear, 2);
  const linearDir = await saveModel('linear', linear, 'features', mobilenetPre(), 3, MOBILENET);
  const mobilenetDir = path.dirname(await getDefaultStore().resolve(MOBILENET));
  const { kernel, bias } = await imagenetHeadFromLayers(mobilenetDir, 'conv_preds');
  const inet = imagenetInitHead(kernel, bias, 768, [162, 167, 207]);
  const inetDir = await saveModel('imagenet-linear', inet, 'features', mobilenetPre(), 3, MOBILENET);
  const both = featureHead({ inputDim: 1768, classes: 3, hidden: 16 });
  randomise(both, 3);
  const bothDir = await saveModel('features-probabilities', both, 'features+probabilities', mobilenetPre(), 3, MOBILENET);
  for (const dir of [headDir, linearDir, inetDir, bothDir]) await checkModel([dir]);
  const ensembleDir = path.join(root, 'ensemble');
  await saveEnsemble(ensembleDir, [headDir, linearDir]);
  await checkModel([ensembleDir]);
});

test("both seed CNNs convert: seed 1's CNN from scratch and seed 2's Otsu CNN (Otsu binarisation inside the exported graph)", async () => {
  const scratch = seedScratchCnn({ size: 48, channels: 3, classes: 4 });
  randomise(scratch, 4);
  await checkModel([await saveModel('scratch', scratch, 'image', PREPROCESSING_PRESETS.rescale(48), 4, null)]);
  const otsu = seedOtsuCnn({ size: 64, channels: 1, classes: 3 });
  randomise(otsu, 5);
  await checkModel([await saveModel('otsu', otsu, 'image', PREPROCESSING_PRESETS.otsu(64), 3, null)]);
});

test('an unsupported layer is a clear error naming it', () => {
  const topology = {
    class_name: 'Sequential',
    config: { name: 's', layers: [{ class_name: 'LSTM', config: { name: 'my_lstm', units: 4, batch_input_shape: [null, 5, 3] } }] },
  };
  assert.throws(() => kerasToOnnx(new GraphBuilder(), topology, new Map()), /my_lstm \(LSTM\) cannot be converted to ONNX/);
});

test('a registry ONNX backbone (fixed size, torch-style preprocessing, internal feature tensor) runs through the engine', async () => {
  // Made here from MobileNet: the graph takes a torch-normalised NCHW batch of exactly one image,
  // undoes that normalisation, and ends in logits; its pooled features are an internal tensor.
  const files = await readLayersModelFiles(path.dirname(await getDefaultStore().resolve(MOBILENET)));
  const g = new GraphBuilder();
  const torch = PREPROCESSING_PRESETS.torch(224);
  const x = g.input('data', [1, 3, 224, 224]);
  // torch: t = (x/255 − mean)/std  →  MobileNet's tf: x/127.5 − 1 = (t·std + mean)·2 − 1
  const nhwc = g.node('Transpose', [x], { perm: [0, 2, 3, 1] });
  const tfIn = g.node('Add', [
    g.node('Mul', [
      nhwc,
      g.constant(
        's',
        torch.std.map((v) => v * 2),
        [3],
      ),
    ]),
    g.constant(
      'b',
      torch.mean.map((v) => v * 2 - 1),
      [3],
    ),
  ]);
  const conv = emitKerasModel(g, files.modelTopology, decodeWeights(files), tfIn, {
    expose: ['conv_preds', 'global_average_pooling2d_1'],
    inputShape: [224, 224, 3],
  });
  g.node('Reshape', [conv.outputs.global_average_pooling2d_1!.name, g.int64('pool_shape', [1, 768, 1, 1])], {}, 'pool_internal');
  g.node('Reshape', [conv.outputs.conv_preds!.name, g.int64('logit_shape', [1, 1000])], {}, 'logits');
  g.output('logits', [1, 1000]);
  const modelDir = path.join(root, 'models');
  await writeFile(path.join(root, 'zoo.onnx'), g.build());
  const bytes = await readFile(path.join(root, 'zoo.onnx'));
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(modelDir, 'test_zoo'), { recursive: true });
  await writeFile(path.join(modelDir, 'test_zoo', 'model.onnx'), bytes);
  const entry: RegistryEntry = {
    name: 'test_zoo_mobilenet',
    format: 'onnx',
    description: 'test',
    license: 'test',
    main: 'test_zoo/model.onnx',
    files: [{ path: 'test_zoo/model.onnx', sha256: null, url: null }],
    backbone: {
      preprocessing: torch,
      probabilitiesOutput: 'logits',
      probabilitiesAreSoftmax: false,
      featuresOutput: 'pool_internal',
      featureDim: 768,
      resizeModes: ['center-crop', 'squash'],
    },
  };
  registerModel(entry);
  const { ModelStore } = await import('../src/models/store.js');
  const store = new ModelStore({ modelDir, cacheDir: path.join(root, 'cache'), offline: true });
  const [zoo, ref] = [await loadBackbone('test_zoo_mobilenet', { store, batchSize: 4 }), await loadBackbone(MOBILENET, { engine: 'tfjs' })];
  try {
    await compareBackbones(zoo, ref); // 6 photos through a batch-of-one graph: the engine splits them
  } finally {
    zoo.dispose();
    ref.dispose();
  }
  await assert.rejects(loadBackbone('test_zoo_mobilenet', { store, resize: 'keep-aspect' }), /accepts resize center-crop \| squash/);
});

test('predict --model, classify and eval give the same probabilities for the same photo and model', async () => {
  const modelDir = path.resolve(import.meta.dirname, '..', 'models', 'imagewoof-head');
  const file = photoFiles[0]!;
  const app = await createDogApp({ modelDir, topK: 10 });
  const plain = await ImageClassificationPipeline.create({ modelDir, topK: 10 });
  const predictor = await openPredictor([modelDir], [], { featureCache: path.join(root, 'fc') });
  try {
    const fromApp = await app.classify(file);
    assert.equal(fromApp.kind, 'dog');
    const fromClassify = await plain.classify(file);
    const [fromEval] = (await predictor.predict([file])).probs;
    const byName = (list: { name: string; probability: number }[]) => new Map(list.map((b) => [b.name, b.probability]));
    const a = byName(fromApp.breeds);
    const b = byName(fromClassify.top);
    predictor.classes.forEach((c, i) => {
      assert.equal(a.get(c.name), b.get(c.name), c.name);
      assert.ok(Math.abs(a.get(c.name)! - fromEval![i]!) <= 5e-5, `${c.name}: app ${a.get(c.name)} vs eval ${fromEval![i]}`);
    });
  } finally {
    app.dispose();
    plain.dispose();
    predictor.dispose();
  }
});

after(() => undefined);
