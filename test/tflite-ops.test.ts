import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { convertTflite, type Precision } from '../src/models/tflite/convert.js';
import { readTflite } from '../src/models/tflite/reader.js';
import { isImgclassError } from '../src/util/errors.js';
import {
  ACT,
  PADDING,
  opts,
  quantFor,
  runReference,
  seeded,
  tensorRanges,
  writeTflite,
  type ModelSpec,
  type OpName,
  type OpSpec,
  type QuantSpec,
  type Tensor,
  type TensorSpec,
  type TensorType,
} from './tflite-writer.js';

/**
 * Every op the importer converts, in small models written with test/tflite-writer.ts: float, uint8
 * (per-tensor, like the shipped files) and int8 (per-channel weights, like today's converter's
 * output). Each intermediate tensor of the converted ONNX graph is compared with a loop-by-loop
 * NHWC reference, so a wrong padding side, axis or memory order shows at the op that has it.
 */

type Mode = 'float' | 'uint8' | 'int8';

/** Builds one model; in the quantised modes each activation gets parameters from the float model's ranges. */
class Build {
  readonly tensors: TensorSpec[] = [];
  readonly ops: OpSpec[] = [];
  private readonly rnd = seeded(7);
  constructor(
    readonly mode: Mode,
    private readonly ranges?: Map<string, [number, number]>,
  ) {}

  private get act(): TensorType {
    return this.mode === 'float' ? 'FLOAT32' : this.mode === 'uint8' ? 'UINT8' : 'INT8';
  }

  private add(t: TensorSpec): number {
    this.tensors.push(t);
    return this.tensors.length - 1;
  }

  /** An activation tensor, quantised in the 8-bit modes. */
  activation(name: string, shape: number[], quant?: QuantSpec): number {
    if (this.mode === 'float') return this.add({ name, shape, type: 'FLOAT32' });
    const range = this.ranges?.get(name) ?? [-1, 1];
    return this.add({ name, shape, type: this.act, quant: quant ?? quantFor(range, this.act as 'UINT8' | 'INT8') });
  }

  floatTensor(name: string, shape: number[]): number {
    return this.add({ name, shape, type: 'FLOAT32' });
  }

  floatTensorWith(name: string, shape: number[], values: number[]): number {
    return this.add({ name, shape, type: 'FLOAT32', values });
  }

  /** A per-tensor quantised constant (an ADD's operand). */
  constantQuant(name: string, shape: number[], values: number[], type: 'UINT8' | 'INT8'): number {
    return this.add({ name, shape, type, values, quant: quantFor([Math.min(...values), Math.max(...values)], type) });
  }

  ints(name: string, values: number[], shape = [values.length]): number {
    return this.add({ name, shape, type: 'INT32', values });
  }

  /** Weights (per-channel along `axis` in int8 mode) and the int32 bias with scale input × weight. */
  weights(name: string, shape: number[], axis: number, input: number, withBias = true): [number, number] {
    const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.5 * this.rnd());
    const channels = shape[axis]!;
    const bias = Array.from({ length: channels }, () => 0.2 * this.rnd());
    if (this.mode === 'float')
      return [
        this.add({ name, shape, type: 'FLOAT32', values }),
        withBias ? this.add({ name: `${name}_bias`, shape: [channels], type: 'FLOAT32', values: bias }) : -1,
      ];
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    let wq: QuantSpec;
    if (this.mode === 'int8') {
      const maxAbs = Array.from({ length: channels }, () => 1e-6);
      values.forEach((v, i) => {
        const c = Math.floor(i / inner) % channels;
        maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(v));
      });
      wq = { scale: maxAbs.map((m) => m / 127), zeroPoint: maxAbs.map(() => 0), axis };
    } else wq = quantFor([Math.min(...values), Math.max(...values)], 'UINT8');
    const inScale = this.tensors[input]!.quant!.scale[0]!;
    const w = this.add({ name, shape, type: this.mode === 'int8' ? 'INT8' : 'UINT8', values, quant: wq });
    const bq: QuantSpec = { scale: wq.scale.map((s) => s * inScale), zeroPoint: wq.scale.map(() => 0), axis: 0 };
    return [w, withBias ? this.add({ name: `${name}_bias`, shape: [channels], type: 'INT32', values: bias, quant: bq }) : -1];
  }

  op(op: OpName, inputs: number[], output: number, options?: OpSpec['options']): number {
    this.ops.push({ op, inputs, outputs: [output], ...(options ? { options } : {}) });
    return output;
  }

  model(input: number, outputs: number[]): ModelSpec {
    return { tensors: this.tensors, ops: this.ops, inputs: [input], outputs };
  }
}

/** A chain through every op of the list (the quantised modes add QUANTIZE first and DEQUANTIZE last). */
function chain(mode: Mode, ranges?: Map<string, [number, number]>): ModelSpec {
  const g = new Build(mode, ranges);
  const input = g.floatTensor('input', [1, 7, 7, 3]);
  let x = input;
  if (mode !== 'float') x = g.op('QUANTIZE', [input], g.activation('input_q', [1, 7, 7, 3]));
  // 7×7, stride 2, SAME: the odd pixel of padding goes bottom/right.
  const [w1, b1] = g.weights('conv1', [4, 3, 3, 3], 0, x);
  const t1 = g.op('CONV_2D', [x, w1, b1], g.activation('conv1_out', [1, 4, 4, 4]), opts.conv(PADDING.SAME, 2, ACT.RELU6));
  const [w2, b2] = g.weights('dw', [1, 3, 3, 8], 3, t1);
  const t2 = g.op('DEPTHWISE_CONV_2D', [t1, w2, b2], g.activation('dw_out', [1, 4, 4, 8]), opts.depthwise(PADDING.SAME, 1, 2, ACT.RELU));
  const t3 = g.op('PAD', [t2, g.ints('paddings', [0, 0, 1, 0, 0, 1, 0, 0], [4, 2])], g.activation('pad_out', [1, 5, 5, 8]));
  const t4 = g.op('MAX_POOL_2D', [t3], g.activation('max_out', [1, 3, 3, 8]), opts.pool(PADDING.SAME, 2, 2));
  const t5 = g.op('HARD_SWISH', [t4], g.activation('hswish_out', [1, 3, 3, 8]));
  const t6 = g.op('AVERAGE_POOL_2D', [t5], g.activation('avg_out', [1, 3, 3, 8]), opts.pool(PADDING.SAME, 1, 3));
  const shift = Array.from({ length: 8 }, (_, i) => (i - 4) / 8);
  const shiftT = mode === 'float' ? g.floatTensorWith('shift', [8], shift) : g.constantQuant('shift', [8], shift, mode === 'uint8' ? 'UINT8' : 'INT8');
  const t7 = g.op('ADD', [t6, shiftT], g.activation('add_out', [1, 3, 3, 8]), opts.add(ACT.NONE));
  const t8 = g.op('LOGISTIC', [t7], g.activation('sigmoid_out', [1, 3, 3, 8], mode === 'float' ? undefined : sigmoidQuant(mode)));
  const t9 = g.op('MUL', [t8, t5], g.activation('mul_out', [1, 3, 3, 8]), opts.mul(ACT.NONE));
  const t10 = g.op('CONCATENATION', [t9, t5], g.activation('concat_out', [1, 3, 3, 16]), opts.concat(3));
  const t11 = g.op('MEAN', [t10, g.ints('mean_axes', [1, 2])], g.activation('mean_out', [1, 1, 1, 16]), opts.reducer(true));
  const t12 = g.op('SQUEEZE', [t11], g.activation('squeeze_out', [1, 16]), opts.squeeze([1, 2]));
  const [w3, b3] = g.weights('fc', [5, 16], 0, t12);
  const t13 = g.op('FULLY_CONNECTED', [t12, w3, b3], g.activation('fc_out', [1, 5]), opts.fullyConnected(ACT.RELU));
  const probs = mode === 'float' ? undefined : { scale: [1 / 256], zeroPoint: [mode === 'uint8' ? 0 : -128] };
  let out = g.op('SOFTMAX', [t13], g.activation('softmax_out', [1, 5], probs), opts.softmax(0.5));
  if (mode !== 'float') out = g.op('DEQUANTIZE', [out], g.floatTensor('output', [1, 5]));
  return g.model(input, [out]);
}

/** A spatial map flattened in NHWC order (RESHAPE), and the standalone RELU / RELU6 ops. */
function flatten(mode: Mode, ranges?: Map<string, [number, number]>): ModelSpec {
  const g = new Build(mode, ranges);
  const input = g.floatTensor('input', [1, 4, 4, 3]);
  let x = input;
  if (mode !== 'float') x = g.op('QUANTIZE', [input], g.activation('input_q', [1, 4, 4, 3]));
  const [w1, b1] = g.weights('conv', [2, 1, 1, 3], 0, x);
  const t1 = g.op('CONV_2D', [x, w1, b1], g.activation('conv_out', [1, 4, 4, 2]), opts.conv(PADDING.VALID, 1, ACT.NONE));
  const t2 = g.op('RESHAPE', [t1, g.ints('shape', [1, -1])], g.activation('reshape_out', [1, 32]));
  const [w2, b2] = g.weights('fc', [6, 32], 0, t2);
  const t3 = g.op('FULLY_CONNECTED', [t2, w2, b2], g.activation('fc_out', [1, 6]), opts.fullyConnected(ACT.NONE));
  const t4 = g.op('RELU', [t3], g.activation('relu_out', [1, 6]));
  let out = g.op('RELU6', [t4], g.activation('relu6_out', [1, 6]));
  if (mode !== 'float') out = g.op('DEQUANTIZE', [out], g.floatTensor('output', [1, 6]));
  return g.model(input, [out]);
}

function sigmoidQuant(mode: Mode): QuantSpec {
  // TFLite fixes LOGISTIC's output to [0, 1): scale 1/256.
  return { scale: [1 / 256], zeroPoint: [mode === 'uint8' ? 0 : -128] };
}

function inputFor(shape: number[], seed: number): Tensor {
  const r = seeded(seed);
  return { shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * r()) };
}

/** Calibrate on the float model (ranges by tensor name), as a converter does with sample data. */
function calibrated(build: (mode: Mode, ranges?: Map<string, [number, number]>) => ModelSpec, mode: Mode, input: Tensor): ModelSpec {
  const float = build('float');
  const ranges = new Map<string, [number, number]>();
  tensorRanges(float, input).forEach((r, i) => ranges.set(float.tensors[i]!.name, r));
  for (const [name, r] of [...ranges]) ranges.set(`${name.replace(/_out$/, '')}_q`, r);
  ranges.set('input_q', ranges.get('input')!);
  return build(mode, ranges);
}

/** Every op output of the converted graph (NHWC, real values) beside the reference's. */
async function compare(spec: ModelSpec, input: Tensor, precision: Precision, signedWeights = false) {
  const produced = spec.ops.map((o) => o.outputs[0]!);
  const outputs = Object.fromEntries(produced.map((i, k) => [spec.tensors[i]!.name, `out_${k}`]));
  const { bytes, ops } = convertTflite(writeTflite(spec), { outputs, precision, batch: 1, signedWeights });
  const session = await ort.InferenceSession.create(bytes);
  const res = await session.run({ input: new ort.Tensor('float32', Float32Array.from(input.data), input.shape) });
  const ref = runReference({ ...spec, outputs: produced }, input);
  const rows = produced.map((i, k) => {
    const got = res[`out_${k}`]!.data as Float32Array;
    const want = ref[k]!;
    assert.equal(got.length, want.data.length, `${spec.tensors[i]!.name}: ${got.length} values, expected ${want.data.length}`);
    let max = 0;
    want.data.forEach((v, j) => (max = Math.max(max, Math.abs(v - got[j]!))));
    const t = spec.tensors[i]!;
    const step = t.quant && precision === '8bit' ? t.quant.scale[0]! : 0;
    return { name: t.name, op: spec.ops[k]!.op, max, step };
  });
  await session.release();
  return { rows, ops };
}

const EVERY_OP = [
  'CONV_2D',
  'DEPTHWISE_CONV_2D',
  'FULLY_CONNECTED',
  'ADD',
  'MUL',
  'AVERAGE_POOL_2D',
  'MAX_POOL_2D',
  'MEAN',
  'RESHAPE',
  'SQUEEZE',
  'SOFTMAX',
  'CONCATENATION',
  'PAD',
  'QUANTIZE',
  'DEQUANTIZE',
  'HARD_SWISH',
  'LOGISTIC',
  'RELU',
  'RELU6',
];

test('the test models cover every op of the issue, and the reader reads them back', () => {
  const ops = new Set<string>();
  for (const build of [chain, flatten]) for (const mode of ['float', 'uint8'] as const) for (const o of build(mode).ops) ops.add(o.op);
  assert.deepEqual([...ops].sort(), [...EVERY_OP].sort());
  const m = readTflite(writeTflite(calibrated(chain, 'int8', inputFor([1, 7, 7, 3], 1))));
  const dw = m.tensors.find((t) => t.name === 'dw')!;
  assert.equal(dw.type, 'INT8');
  assert.equal(dw.quantization!.scale.length, 8, 'per-channel depthwise weights');
  assert.equal(dw.quantization!.axis, 3);
  assert.equal(m.operators[1]!.op, 'CONV_2D');
});

for (const build of [chain, flatten]) {
  const shape = build === chain ? [1, 7, 7, 3] : [1, 4, 4, 3];
  test(`${build.name}: float model, every op's output equals the reference`, async () => {
    const input = inputFor(shape, 3);
    const { rows } = await compare(build('float'), input, 'float');
    for (const r of rows) assert.ok(r.max < 1e-4, `${r.op} ${r.name}: max |Δ| ${r.max}`);
  });

  for (const [mode, signed] of [
    ['uint8', false],
    ['uint8', true],
    ['int8', false],
  ] as const)
    test(`${build.name}: ${mode} model in 8 bits${signed ? ' (weights handed over as int8)' : ''}, every op within a step or two of the quantised reference`, async () => {
      const input = inputFor(shape, 5);
      const spec = calibrated(build, mode, input);
      const { rows, ops } = await compare(spec, input, '8bit', signed);
      // The 8-bit kernels ran where they exist (not a float graph in disguise).
      for (const op of ['CONV_2D', 'QUANTIZE'] as const) assert.ok(ops[op]!.int8 > 0, `${op} on 8-bit kernels: ${JSON.stringify(ops[op])}`);
      if (build === chain) for (const op of ['DEPTHWISE_CONV_2D', 'ADD', 'MEAN', 'MAX_POOL_2D', 'PAD'] as const) assert.equal(ops[op]!.int8, 1, op);
      for (const r of rows) {
        // Rounding differs between runtimes by a step at ties, and a step carried into the next
        // op moves its output by about a step of its own: two steps per tensor, and 1e-6 for float ones.
        const tolerance = r.step ? 2.01 * r.step : 2e-2;
        assert.ok(r.max <= tolerance, `${r.op} ${r.name}: max |Δ| ${r.max} (step ${r.step})`);
      }
      // The same quantised file run entirely in float stays close to the quantised reference too.
      const float = await compare(spec, input, 'float');
      const last = float.rows.at(-1)!;
      assert.ok(last.max < 0.05, `float run of the ${mode} model: ${last.max}`);
    });
}

test('an unsupported op or option is a clear error naming it (UNSUPPORTED_MODEL)', () => {
  const g = new Build('float');
  const input = g.floatTensor('input', [1, 4, 4, 3]);
  g.op('LOCAL_RESPONSE_NORMALIZATION', [input], g.floatTensor('lrn', [1, 4, 4, 3]));
  const lrn = writeTflite(g.model(input, [1]));
  assert.throws(
    () => convertTflite(lrn),
    (e: unknown) => isImgclassError(e) && e.code === 'UNSUPPORTED_MODEL' && /LOCAL_RESPONSE_NORMALIZATION/.test(e.message),
  );
  const h = new Build('float');
  const x = h.floatTensor('input', [1, 4, 4, 3]);
  const [w, b] = h.weights('conv', [2, 1, 1, 3], 0, x);
  h.op('CONV_2D', [x, w, b], h.floatTensor('out', [1, 4, 4, 2]), opts.conv(PADDING.VALID, 1, ACT.TANH));
  assert.throws(
    () => convertTflite(writeTflite(h.model(x, [3]))),
    (e: unknown) => isImgclassError(e) && e.code === 'UNSUPPORTED_MODEL' && /CONV_2D.*fused activation TANH/.test(e.message),
  );
  assert.throws(
    () => convertTflite(new Uint8Array(64)),
    (e: unknown) => isImgclassError(e) && e.code === 'MODEL_CORRUPT',
  );
});
