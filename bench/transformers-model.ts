/**
 * The default backbone's weights (MobileNet v1 0.75, the shared TF.js files) as a model directory
 * transformers.js reads from disk: `onnx/model.onnx` (pixel_values NCHW float → logits),
 * `config.json` (model_type mobilenet_v1, the 1000 ImageNet labels) and `preprocessor_config.json`
 * (MobileNetV1ImageProcessor: shorter side 256, centre 224, (x/255 − 0.5)/0.5 = x/127.5 − 1, the
 * backbone's own preprocessing). The graph is imgclass's own conversion of the weights (the bare
 * network, `input: 'normalised'`) with a transpose in front and log-probabilities as its logits
 * (the pipeline's softmax then gives back the network's own probabilities), so both sides run the
 * same weights on the same engine. Written once under the model store's cache; bench:startup uses it with
 * remote models off, so transformers.js never touches the network.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { backboneGraph, BACKBONE_INPUT, BACKBONE_PROBABILITIES } from '../src/models/backbone-graph.js';
import { onnx, readModel, writeModel, type AttributeProto } from '../src/models/onnx/graph.js';
import { DEFAULT_BACKBONE, registryEntry } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { writeFileAtomic } from '../src/util/atomic.js';

/** Bump when the directory written here changes. */
const FORMAT = 2;

/** Returns the directory that holds the model directory (transformers.js's `localModelPath`) and the model's name in it. */
export async function transformersModelDir(): Promise<{ localModelPath: string; name: string }> {
  const store = getDefaultStore();
  const entry = registryEntry(DEFAULT_BACKBONE);
  const bare = await backboneGraph(entry, entry.backbone!, store, { input: 'normalised' });
  const name = `${entry.name}-${path.basename(bare.model, '.onnx').split('-').at(-1)}`;
  const localModelPath = path.join(store.cacheDir, 'transformers-js', `v${FORMAT}`);
  const dir = path.join(localModelPath, name);
  if (await stat(path.join(dir, 'onnx', 'model.onnx')).catch(() => null)) return { localModelPath, name };

  const model = readModel(await readFile(bare.model));
  const graph = model.graph!;
  const side = entry.backbone!.preprocessing.height;
  const dim = (v: number | string) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v });
  const input = (n: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map(dim) } } } });
  const node = (op: string, i: string, o: string, attribute: AttributeProto[] = []) =>
    onnx.NodeProto.create({ opType: op, input: [i], output: [o], name: `transformers_${o}`, attribute });
  const perm = onnx.AttributeProto.create({ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 3, 1] });
  graph.input = [input('pixel_values', ['batch', 3, side, side])];
  graph.node = [node('Transpose', 'pixel_values', BACKBONE_INPUT, [perm]), ...(graph.node ?? []), node('Log', BACKBONE_PROBABILITIES, 'logits')];
  graph.output = [input('logits', ['batch', 1000])];

  const classes = (await readFile(await store.resolve('imagenet_classes'), 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t')[2]!);
  const id2label = Object.fromEntries(classes.map((c, i) => [String(i), c]));
  const config = {
    model_type: 'mobilenet_v1',
    architectures: ['MobileNetV1ForImageClassification'],
    num_labels: 1000,
    id2label,
    label2id: Object.fromEntries(classes.map((c, i) => [c, i])),
  };
  const preprocessor = {
    image_processor_type: 'MobileNetV1ImageProcessor',
    do_resize: true,
    size: { shortest_edge: 256 },
    do_center_crop: true,
    crop_size: { height: side, width: side },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    resample: 2,
  };
  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFileAtomic(path.join(dir, 'preprocessor_config.json'), JSON.stringify(preprocessor, null, 2));
  await writeFileAtomic(path.join(dir, 'onnx', 'model.onnx'), writeModel(model));
  return { localModelPath, name };
}
