/**
 * Every command loads only what it uses: run the command line (and the library's entry) with a
 * hook that records each module the process asks for (support/record-modules.mjs), and check which
 * packages are among them. A structural check of the module graph on real runs, not a timer
 * (the times are bench:startup's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sampleClassFolders, sharedDataDir } from './shared.js';
import { nativePixels } from '../src/data/native-pixels.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'src', 'cli', 'main.ts');
const recorder = path.join(root, 'support', 'record-modules.mjs');
const data = sharedDataDir();

/** The optional heavy parts, as the packages that make them. */
const HEAVY = {
  'TF.js': '@tensorflow/',
  'OpenCV.js': '@techstark/opencv-js/',
  vega: 'vega',
  esbuild: 'esbuild/',
  bullmq: 'bullmq/',
  fastify: 'fastify/',
  ioredis: 'ioredis/',
} as const;

/**
 * The packages (node_modules/<name>) a node process loaded, and our own source files; with `until`,
 * the process is stopped once its output matches (a server, when it says it is ready: code 0).
 */
async function loaded(args: string[], until?: RegExp): Promise<{ packages: Set<string>; sources: Set<string>; stdout: string; code: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgclass-startup-'));
  const record = path.join(dir, 'modules.txt');
  await writeFile(record, '');
  // a script is written to a file: `-e` with --input-type=module would be inherited by onnxruntime's eval'd CommonJS workers
  if (args[0] === 'script') {
    await writeFile(path.join(dir, 'script.mjs'), args[1]!);
    args = [path.join(dir, 'script.mjs')];
  }
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', recorder, '--import', 'tsx', ...args],
      { cwd: root, env: { ...process.env, IMGCLASS_RECORD_MODULES: record }, maxBuffer: 1 << 24 },
      (err, out) => resolve({ code: err && !(until && until.test(out)) ? ((err as { code?: number }).code ?? 1) : 0, stdout: out }),
    );
    child.stdin!.end();
    let seen = '';
    if (until)
      child.stdout!.on('data', (d: Buffer) => {
        seen += d;
        if (until.test(seen)) child.kill('SIGKILL'); // what it loaded until now is recorded already
      });
  });
  const files = (await readFile(record, 'utf8')).split('\n').filter(Boolean);
  const packages = new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []));
  const sources = new Set(files.filter((f) => f.startsWith(path.join(root, 'src') + path.sep)).map((f) => path.relative(root, f)));
  return { packages, sources, stdout, code };
}

function heavyIn(packages: Set<string>): string[] {
  return Object.entries(HEAVY)
    .filter(([, prefix]) => [...packages].some((p) => `${p}/`.startsWith(prefix) || (prefix === 'vega' && p.startsWith('vega'))))
    .map(([name]) => name);
}

const dog = sampleClassFolders(path.join(data, 'imagewoof/val'), 1)[0]!.file;

test('the recorder sees ES imports and require() inside CommonJS packages (else the checks below prove nothing)', async () => {
  const imports = ['bullmq', 'vega', '@tensorflow/tfjs-core', 'fastify'].map((p) => `await import(${JSON.stringify(import.meta.resolve(p))});`);
  const { packages } = await loaded(['script', imports.join('\n')]);
  assert.deepEqual(heavyIn(packages).sort(), ['TF.js', 'bullmq', 'fastify', 'vega']);
  assert.ok(packages.has('avvio'), "fastify's own require() of its dependencies is seen");
});

test('--help loads commander and no engine at all', async () => {
  const { packages, stdout, code } = await loaded([cli, '--help']);
  assert.equal(code, 0);
  assert.match(stdout, /predict/);
  assert.deepEqual(
    [...packages].filter((p) => p !== 'tsx'),
    ['commander'],
  );
});

test('predict loads none of TF.js, OpenCV.js, vega, esbuild, bullmq, fastify; sharp only for an image libjpeg-turbo does not take', async () => {
  // A plain JPEG already at the model's size: decoded by libjpeg-turbo (the native module where it
  // is built, else WebAssembly), fitted by a crop.
  const { packages, stdout, code } = await loaded([cli, 'predict', '--json', dog]);
  assert.equal(code, 0);
  assert.equal(JSON.parse(stdout).kind, 'dog');
  // onnxruntime-node loads on the sessions' worker threads, which the recorder does not see (the library test checks the main thread)
  const native = nativePixels() !== null;
  assert.equal(packages.has('@cornerstonejs/codec-libjpeg-turbo-8bit'), !native, native ? 'the native decoder was not used' : 'the JPEG decoder was not used');
  assert.ok(!packages.has('sharp'), 'sharp was loaded for a photo that needs no scaling');
  assert.deepEqual(heavyIn(packages), []);
  // A larger photo is scaled by the pure resize (sharp's bytes: test/resample.test.ts), without sharp.
  const vehicle = sampleClassFolders(path.join(data, 'vehicles'), 1)[0]!.file;
  const large = await loaded([cli, 'predict', '--json', vehicle]);
  assert.equal(large.code, 0);
  assert.ok(!large.packages.has('sharp'), 'sharp was loaded to scale a 640-px photo');
  assert.deepEqual(heavyIn(large.packages), []);
  // The control: the same photo as a PNG is decoded by sharp, which is loaded then, and only then.
  const { default: sharp } = await import('sharp');
  const png = path.join(await mkdtemp(path.join(os.tmpdir(), 'imgclass-startup-')), 'vehicle.png');
  await writeFile(png, await sharp(vehicle).png().toBuffer());
  const control = await loaded([cli, 'predict', '--json', png]);
  assert.equal(control.code, 0);
  assert.ok(control.packages.has('sharp'), 'sharp was used');
  assert.equal(JSON.parse(control.stdout).kind, JSON.parse(large.stdout).kind);
  assert.deepEqual(heavyIn(control.packages), []);
});

test('a second predict starts from the caches: no converter (protobuf, the TFLite reader) is loaded', async () => {
  await loaded([cli, 'predict', '--json', dog]); // the first run may convert and fill the caches
  const { packages, sources, code } = await loaded([cli, 'predict', '--json', dog]);
  assert.equal(code, 0);
  for (const p of ['protobufjs', 'onnx-proto', 'flatbuffers']) assert.ok(!packages.has(p), `${p} was loaded`);
  assert.deepEqual(
    [...sources].filter((s) => /^src\/models\/(onnx|tflite)\/|backbone-convert/.test(s)),
    [],
  );
});

test('serve is ready without TF.js, the converters, the device-mode assets or the bundler (they load on first use)', async () => {
  const { packages, sources, code, stdout } = await loaded([cli, 'serve', '--port', '0'], /ready on/);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /ready on/);
  assert.ok(packages.has('fastify'), 'the control: the server itself was loaded');
  assert.deepEqual(
    heavyIn(packages).filter((p) => p !== 'fastify'),
    [],
  );
  for (const p of ['protobufjs', 'flatbuffers']) assert.ok(!packages.has(p), `${p} was loaded`);
  assert.deepEqual(
    [...sources].filter((s) =>
      /^src\/(training\/(train|train-loop|architectures)\.ts|server\/device-assets\.ts|models\/(onnx|tflite)\/|data\/explore\.ts)/.test(s),
    ),
    [],
  );
});

test('classify with a trained head (TF.js files on disk) answers without loading TF.js or the other heavy parts', async () => {
  const model = path.join(root, 'models', 'imagewoof-head');
  const { packages, stdout, code } = await loaded([cli, 'classify', '--json', '--model', model, dog]);
  assert.equal(code, 0);
  assert.ok(JSON.parse(stdout).label);
  assert.deepEqual(heavyIn(packages), []);
});

test('the library: importing the main entry and a first answer load none of the heavy parts (nor sharp, for a plain photo); imgclass/toolkit is where TF.js is', async () => {
  const script = `const { createDogApp } = await import(${JSON.stringify(path.join(root, 'src', 'index.ts'))});
    const app = await createDogApp({ quality: 'standard' });
    const answer = await app.classify(${JSON.stringify(dog)});
    // the main thread's CommonJS modules: onnxruntime's binding must be on the sessions' threads only
    const { createRequire } = await import('node:module');
    const ortModules = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/onnxruntime-'));
    const mainThread = ortModules();
    // the control: once imported here, the same check sees it
    await import(${JSON.stringify(import.meta.resolve('onnxruntime-node'))});
    console.log(JSON.stringify({ ...answer, mainThread, control: ortModules().length }));
    app.dispose();`;
  const lib = await loaded(['script', script]);
  assert.equal(lib.code, 0);
  const out = JSON.parse(lib.stdout) as { kind: string; mainThread: string[]; control: number };
  assert.equal(out.kind, 'dog');
  assert.deepEqual(out.mainThread, [], 'onnxruntime was loaded on the main thread');
  assert.ok(out.control > 0, 'the check sees onnxruntime once the main thread imports it');
  assert.deepEqual(heavyIn(lib.packages), []);
  // a plain JPEG at the model's size needs no sharp: nothing in the entry imports it up front
  assert.ok(!lib.packages.has('sharp'), 'the main entry or a first answer loaded sharp');
  const toolkit = await loaded(['script', `await import(${JSON.stringify(path.join(root, 'src', 'toolkit.ts'))})`]);
  assert.deepEqual(heavyIn(toolkit.packages), ['TF.js']);
});

test('serve --help and train --help parse without loading the server or TF.js', async () => {
  for (const command of ['serve', 'train', 'worker']) {
    const { packages, sources, code } = await loaded([cli, command, '--help']);
    assert.equal(code, 0);
    assert.deepEqual(heavyIn(packages), [], command);
    assert.ok(![...sources].some((s) => /^src\/(server\/|training\/pipeline\.ts|batch\/(batch|worker)\.ts)/.test(s)), `${command}: ${[...sources].join(' ')}`);
  }
});

// `imgclass` (the package's bin) and `npm start` run the command line's bundle (scripts/bundle-cli.js:
// tsc's output in a few chunks). It must answer as the sources do and keep every command's heavy
// parts in chunks of their own, loaded only when that command runs.
test('the built command line (dist/bundle) answers as the sources do, serves, and still loads only what a command uses', async () => {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-if-stale.js')], { encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const bin = path.join(root, 'dist', 'bundle', 'main.js');
  const help = await loaded([bin, '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /predict/);
  assert.deepEqual(
    [...help.packages].filter((p) => p !== 'tsx'),
    ['commander'],
    'the recorder runs under tsx; the bundle loads commander alone',
  );
  const [fromBundle, fromSources] = await Promise.all([loaded([bin, 'predict', '--json', dog]), loaded([cli, 'predict', '--json', dog])]);
  assert.equal(fromBundle.code, 0);
  const { timings: _a, ...answer } = JSON.parse(fromBundle.stdout);
  const { timings: _b, ...expected } = JSON.parse(fromSources.stdout);
  assert.deepEqual(answer, expected);
  assert.deepEqual(heavyIn(fromBundle.packages), []);
  const served = await loaded([bin, 'serve', '--port', '0'], /ready on/);
  assert.equal(served.code, 0);
  assert.match(served.stdout, /ready on http:\/\/127\.0\.0\.1:\d+/);
  assert.deepEqual(
    heavyIn(served.packages).filter((p) => p !== 'fastify'),
    [],
  );
});
