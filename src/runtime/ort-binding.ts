/**
 * onnxruntime-node's own API (Tensor, InferenceSession), loaded eagerly: for tests and benchmarks
 * that make sessions by hand. The product's code goes through ort.ts, whose sessions take plain
 * feeds and load the binding only on a worker thread (or for an inline session).
 */
import './ort.js'; // its side effect (telemetry off) before any session is made
import * as ort from 'onnxruntime-node';

export { ort };
