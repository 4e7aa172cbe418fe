/**
 * npm run bench:startup — the time a person waits for a command, each as a ratio to a reference
 * measured in the same run, cold processes all, interleaved run by run (the machine is shared):
 *
 * - `imgclass --help` (dist/) ÷ a bare `node -e 0`;
 * - `imgclass predict --json PHOTO` (default preset) ÷ the floor: one cold node process that loads
 *   onnxruntime, creates the same sessions from the same cached optimised graphs and runs the same
 *   passes on that photo's feeds, with nothing around them (startup-floor.mjs);
 * - `npm start` to "ready" ÷ the model load alone: the floor's process without the passes; and ÷
 *   npm's own start (`npm start` of an empty package, node -e 0) with the model load, since npm
 *   alone costs a cold start ~250 ms, most of the model load; and `imgclass serve` to "ready" (the
 *   same server without npm) ÷ the model load;
 * - the library's first answer (import the main entry, createDogApp standard preset, classify one
 *   photo: startup-library.mjs) ÷ transformers.js's pipeline('image-classification') on the same
 *   MobileNet weights from local files (startup-transformers.mjs, transformers-model.ts).
 *
 * BENCH_BEFORE=/path/to/another/checkout (npm installed; its dist/ is built here if stale or
 * missing) measures that tree's commands in the same run, beside this one's. BENCH_RUNS (default 7).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDogApp } from '../src/app/dog-app.js';
import { loadImage } from '../src/data/image.js';
import { flipHorizontal, packPixels } from '../src/data/pixels.js';
import { resizeFor } from '../src/data/preprocess.js';
import { resizeExactly } from '../src/data/transform.js';
import { yoloxFeeds } from '../src/detectors/coco-decode.js';
import { yunetFeeds } from '../src/detectors/face/yunet-decode.js';
import { detectorGraphCache } from '../src/detectors/graph-cache.js';
import { letterboxTensors } from '../src/detectors/letterbox.js';
import { backboneGraph, BACKBONE_PIXELS } from '../src/models/backbone-graph.js';
import { backboneSessionCache } from '../src/models/backbone.js';
import { registryEntry } from '../src/models/registry.js';
import { getDefaultStore } from '../src/models/store.js';
import { defaultThreads } from '../src/runtime/ort.js';
import { optimizedGraphPath } from '../src/runtime/session-cache.js';
import { sampleClassFolders, sharedDataDir, sharedDir } from '../support/shared.js';
import { median, table } from './stats.js';
import { transformersModelDir } from './transformers-model.js';

const root = path.resolve(import.meta.dirname, '..');
const before = process.env.BENCH_BEFORE ? path.resolve(process.env.BENCH_BEFORE) : null;
const runs = Number(process.env.BENCH_RUNS ?? 7);
const photo = sampleClassFolders(path.join(sharedDataDir(), 'imagewoof/val'), 1)[0]!.file;
// Imagewoof's photos are already 224 px on their shorter side: fitting them is a crop, and a plain
// JPEG then needs no sharp at all (data/jpeg.ts, data/transform.ts). A real upload is larger and
// is scaled with sharp, so `predict` is timed on one of those too, against the same floor.
const largePhoto = sampleClassFolders(path.join(sharedDataDir(), 'vehicles'), 1)[0]!.file;
const env = { ...process.env, IMGCLASS_MODEL_DIR: path.join(sharedDir(), 'models'), IMGCLASS_OFFLINE: '1' };

if (spawnSync(process.execPath, [path.join(root, 'scripts', 'build-if-stale.js')], { stdio: 'inherit' }).status !== 0) throw new Error('the build failed');
// an older tree may have no build-if-stale.js: built with its own tsc when it has no dist/ at all
if (before && !existsSync(path.join(before, 'dist', 'cli', 'main.js')))
  spawnSync(process.execPath, [path.join(before, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(before, 'tsconfig.json')], { stdio: 'inherit' });

/** Wall time of a cold process until it exits (or until `until` appears on its stdout, then it is killed). */
function timeProcess(cmd: string, args: string[], o: { cwd?: string; until?: RegExp } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: o.cwd ?? root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let ready: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (o.until && ready === undefined && o.until.test(out)) {
        ready = performance.now() - t0;
        process.kill(-child.pid!, 'SIGTERM'); // npm, its shell and the server: the whole group
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    // settled when the process has exited (a server has let go of its port before the next one starts)
    child.on('close', (code) => {
      if (ready !== undefined) resolve(ready);
      else if (code !== 0 || o.until) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
      else resolve(performance.now() - t0);
    });
  });
}

// ---- the floor's spec: the sessions predict creates (from the cache predict's own run warmed) and its passes on the photo
const store = getDefaultStore();
const app = await createDogApp(); // the default preset, as `predict` runs it: also warms every cache
let backboneViews = 0;
let faceCalls = 0;
let objectCalls = 0;
const run = app.backbone.run.bind(app.backbone);
app.backbone.run = (images) => ((backboneViews += images.length), run(images));
const detectFaces = app.faceDetector.detect.bind(app.faceDetector);
app.faceDetector.detect = (image) => (faceCalls++, detectFaces(image));
const coco = app.objectDetector!;
const detectObjects = coco.detect.bind(coco);
coco.detect = (image) => (objectCalls++, detectObjects(image));
const answer = await app.classify(photo);
const appBackbone = app.backbone.name; // the floor's backbone is the one predict runs (the dog app's)
app.dispose();

const entry = registryEntry(appBackbone);
const image = await loadImage(photo);
const view = await resizeFor(image, entry.backbone!.preprocessing);
const wire = (type: 'uint8' | 'int64', data: Uint8Array | BigInt64Array, dims: readonly number[]) => ({
  type,
  dims,
  base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
});
const wireTensors = {
  uint8: (d: Uint8Array, dims: readonly number[]) => wire('uint8', d, dims),
  int64: (d: BigInt64Array, dims: readonly number[]) => wire('int64', d, dims),
};
const pair = packPixels([view, flipHorizontal(view)]);
const sessions = [
  {
    model: optimizedGraphPath(backboneSessionCache(await backboneGraph(entry, entry.backbone!, store))),
    threads: defaultThreads(),
    passes: Math.ceil(backboneViews / 2),
    feeds: { [BACKBONE_PIXELS]: wire('uint8', pair.data, pair.dims) },
  },
  {
    model: optimizedGraphPath(await detectorGraphCache(store, 'yunet_n')),
    threads: 1,
    passes: faceCalls,
    feeds: letterboxTensors(await yunetFeeds(image, resizeExactly), wireTensors),
  },
  {
    model: optimizedGraphPath(await detectorGraphCache(store, 'yolox_nano')),
    threads: defaultThreads(),
    passes: objectCalls,
    feeds: letterboxTensors(await yoloxFeeds(image, resizeExactly), wireTensors),
  },
];
for (const s of sessions) if (!existsSync(s.model)) throw new Error(`${s.model}: not cached (the app's run should have written it)`);
const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-bench-startup-'));
const floorSpec = path.join(dir, 'floor.json');
const loadSpec = path.join(dir, 'load.json');
await writeFile(floorSpec, JSON.stringify({ sessions }));
await writeFile(loadSpec, JSON.stringify({ sessions: sessions.map((s) => ({ ...s, passes: 0 })) }));
const tjs = await transformersModelDir();

// ---- the cases, run interleaved
type Case = { name: string; cmd: string; args: string[]; cwd?: string; until?: RegExp };
const node = process.execPath;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const port = 39000 + (process.pid % 1000);
/** The tree's command line as `imgclass` runs it (the package's bin): the bundle, or in a tree from before it, dist/cli/main.js. */
const binOf = (tree: string) => path.join(tree, existsSync(path.join(tree, 'dist/bundle/main.js')) ? 'dist/bundle/main.js' : 'dist/cli/main.js');
const treeCases = (tree: string, label: string): Case[] => [
  { name: `${label} --help`, cmd: node, args: [binOf(tree), '--help'] },
  { name: `${label} predict`, cmd: node, args: [binOf(tree), 'predict', '--json', photo] },
  { name: `${label} predict large`, cmd: node, args: [binOf(tree), 'predict', '--json', largePhoto] },
  { name: `${label} library`, cmd: node, args: [path.join(root, 'bench/startup-library.mjs'), path.join(tree, 'dist/index.js'), photo] },
  { name: `${label} npm start`, cmd: npm, args: ['start', '--silent', '--', '--port', String(port)], cwd: tree, until: /ready on/ },
  { name: `${label} serve`, cmd: node, args: [binOf(tree), 'serve', '--port', String(port)], cwd: tree, until: /ready on/ },
];
// npm's own start: `npm start` of a package whose start script is `node -e 0`
const emptyPackage = path.join(dir, 'empty-package');
await mkdir(emptyPackage);
await writeFile(path.join(emptyPackage, 'package.json'), JSON.stringify({ name: 'empty', version: '1.0.0', private: true, scripts: { start: 'node -e 0' } }));
const cases: Case[] = [
  { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
  { name: 'npm start (empty)', cmd: npm, args: ['start', '--silent'], cwd: emptyPackage },
  { name: 'floor', cmd: node, args: [path.join(root, 'bench/startup-floor.mjs'), floorSpec] },
  { name: 'model load', cmd: node, args: [path.join(root, 'bench/startup-floor.mjs'), loadSpec] },
  { name: 'transformers.js', cmd: node, args: [path.join(root, 'bench/startup-transformers.mjs'), tjs.localModelPath, tjs.name, photo] },
  ...treeCases(root, 'after'),
  ...(before ? treeCases(before, 'before') : []),
];
console.log(
  `bench:startup, ${runs} runs each, interleaved; photo ${path.basename(photo)} (${answer.kind}, ${answer.breeds[0]?.name}); larger photo ${path.relative(sharedDataDir(), largePhoto)}; ` +
    `predict's passes: backbone ${backboneViews} views, YuNet ${faceCalls}, YOLOX ${objectCalls}; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}\n`,
);
const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let i = 0; i < runs; i++) {
  // the "before" npm start compiles every time: once is enough to know it
  for (const c of cases) if (!(c.name === 'before npm start' && i > 0)) times.get(c.name)!.push(await timeProcess(c.cmd, c.args, c));
}
const measured = (name: string) => median(times.get(name)!);
/** A reference: measured, or npm's own start and the model load together (one node start counted once). */
const ms = (name: string) => (name === 'npm + model load' ? measured('npm start (empty)') + measured('model load') - measured('node -e 0') : measured(name));

const targets: [string, string, string, number][] = [
  ['--help', '--help', 'node -e 0', 1.5],
  ['predict PHOTO, cold', 'predict', 'floor', 1.5],
  ['predict LARGER PHOTO (scaled on load), cold', 'predict large', 'floor', 1.5],
  ['npm start → ready', 'npm start', 'model load', 1.5],
  ['npm start → ready', 'npm start', 'npm + model load', 1.5],
  ['imgclass serve → ready', 'serve', 'model load', 1.5],
  ['library: first answer', 'library', 'transformers.js', 1],
];
const rows = targets.map(([label, key, ref, target]) => {
  const after = ms(`after ${key}`);
  const b = before ? ms(`before ${key}`) : NaN;
  return [
    label,
    ref,
    `${Math.round(ms(ref))} ms`,
    ...(before ? [`${Math.round(b)} ms`, `${(b / ms(ref)).toFixed(2)}×`] : []),
    `${Math.round(after)} ms`,
    `${(after / ms(ref)).toFixed(2)}×`,
    `≤ ${target}×`,
  ];
});
console.log(
  table(
    ['command', 'reference', 'reference (median)', ...(before ? ['before (median)', 'before ÷ ref'] : []), 'after (median)', 'after ÷ ref', 'target'],
    rows,
  ),
);
