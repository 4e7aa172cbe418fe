import onnxProto from 'onnx-proto';

/**
 * A small builder for ONNX graphs, serialised with `onnx-proto` (protobufjs code generated from
 * onnx.proto). Everything imgclass writes in ONNX goes through here: converted TF.js models,
 * exported pipelines, and edits to registry models (exposing an internal tensor as an output).
 */
export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

/** Opset 13: per-axis Softmax, Clip/Pad/Reshape bounds as inputs; what onnxruntime 1.x and -web run fully optimised. */
export const OPSET = 13;
const IR_VERSION = 7;

export type Dim = number | string | null;
export type AttributeValue = number | number[] | string | { float: number };

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly domains = new Set<string>();

  /** A tensor name not used yet in this graph, derived from `base`. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** A graph input; float32 unless `elemType` says otherwise (onnx.TensorProto.DataType). */
  input(name: string, dims: Dim[], elemType: number = onnx.TensorProto.DataType.FLOAT): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** A float32 constant (weights, scalars); returns its tensor name. */
  constant(base: string, data: Float32Array | number[], dims: number[]): string {
    const name = this.unique(base);
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  /** A constant of any element type from its little-endian bytes (uint8 weights, int32 biases, zero points). */
  typed(base: string, dataType: number, dims: number[], raw: Uint8Array): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, dataType, rawData: raw });
    return name;
  }

  /** An int64 constant (shapes, pads, axes). */
  int64(base: string, values: number[]): string {
    const name = this.unique(base);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(raw.buffer) });
    return name;
  }

  /**
   * Add a node; returns the name of its (first) output. `domain` names a contrib operator set
   * (onnxruntime's 'com.microsoft': QLinearAdd, QLinearGlobalAveragePool …), imported at build.
   */
  node(op: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, outputName?: string, domain?: string): string {
    const out = outputName ?? this.unique(`${op.toLowerCase()}`);
    this.used.add(out);
    if (domain) this.domains.add(domain);
    this.nodes.push({
      ...(domain ? { domain } : {}),
      opType: op,
      input: inputs,
      output: [out],
      name: this.unique(`${out}__node`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /**
   * Copy another model's graph in: every tensor name gets `prefix`, except its one real input,
   * which reads `input` instead. Returns the new name of each of that graph's tensors asked for.
   */
  embed(model: ModelProto, input: string, prefix: string, wanted: string[]): Record<string, string> {
    const graph = model.graph!;
    const inits = new Set((graph.initializer ?? []).map((t) => t.name));
    const realInput = (graph.input ?? []).find((i) => !inits.has(i.name))!.name!;
    const rename = (n: string) => (n === '' ? '' : n === realInput ? input : `${prefix}${n}`);
    for (const t of graph.initializer ?? []) this.initializers.push({ ...t, name: rename(t.name!) });
    for (const n of graph.node ?? []) {
      this.nodes.push({ ...n, name: `${prefix}${n.name ?? ''}`, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) });
      for (const o of n.output ?? []) this.used.add(rename(o));
      if (n.domain) this.domains.add(n.domain);
    }
    return Object.fromEntries(wanted.map((w) => [w, rename(w)]));
  }

  /** Rename the tensor `from` to `to` at its producer (so a graph output can carry a public name). */
  rename(from: string, to: string): void {
    for (const n of this.nodes) n.output = n.output!.map((o) => (o === from ? to : o));
    for (const n of this.nodes) n.input = n.input!.map((i) => (i === from ? to : i));
    this.used.add(to);
  }

  build(metadata: Record<string, string> = {}, docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'imgclass',
      docString,
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: { name: 'imgclass', node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: Dim[], elemType: number = onnx.TensorProto.DataType.FLOAT): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d ?? undefined })) },
      },
    },
  };
}

function attribute(name: string, v: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}

/** Parse an .onnx file. */
export function readModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function writeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The model's metadata_props as a plain object. */
export function modelMetadata(model: ModelProto): Record<string, string> {
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}
