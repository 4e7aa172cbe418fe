/**
 * Runnable examples in the README and docs/: fenced blocks whose info string says `example` are
 * extracted, run against the shared photos, and their output compared with what the page shows,
 * so that a changed flag or message breaks a test instead of misleading a reader. The format is
 * described in CONTRIBUTING.md ("Runnable examples"); test/examples.test.ts runs them and
 * `UPDATE_EXAMPLES=all npm run docs:examples` records new outputs in place.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fencedBlocks, repoRoot } from './markdown.js';
import { freePort, startRedis, type RedisServer } from './redis.js';
import { sharedDataDir, sharedDir } from './shared.js';

/** One command of a shell example and the output the page shows for it (lines). */
export interface ExampleCommand {
  command: string;
  expected: string[];
  /** 1-based lines of the page holding the expected output (empty range when none). */
  outputLines: { first: number; last: number };
}

/** A runnable example of a Markdown page. */
export interface DocExample {
  /** `sh` (commands after `$ `), or `ts`/`js` (a program whose output is the ```text output``` block after it). */
  lang: 'sh' | 'ts' | 'js';
  /** Words of the info string after `example`: `server`, `redis`, `numbers=any`. */
  options: Set<string>;
  /** 1-based line of the opening fence. */
  line: number;
  /** The program (ts/js) or the shell commands (sh). */
  code: string;
  commands: ExampleCommand[];
}

const CONTINUED = /\\\s*$/;

/** The runnable examples of a page, in order. Throws on a malformed one (an example without output, an unknown language). */
export function extractExamples(markdown: string): DocExample[] {
  const blocks = fencedBlocks(markdown);
  const out: DocExample[] = [];
  blocks.forEach((b, i) => {
    const words = b.info.split(/\s+/);
    if (words[1] !== 'example') return;
    const lang = words[0];
    if (lang !== 'sh' && lang !== 'ts' && lang !== 'js') throw new Error(`line ${b.startLine}: runnable examples are sh, ts or js, not "${lang}"`);
    const options = new Set(words.slice(2));
    if (lang === 'sh') {
      const lines = b.body.split('\n');
      const commands: ExampleCommand[] = [];
      for (let l = 0; l < lines.length; l++) {
        const text = lines[l]!;
        const lineNo = b.startLine + 1 + l;
        if (text.startsWith('$ ')) {
          let command = text.slice(2);
          while (CONTINUED.test(command) && l + 1 < lines.length) command = command.replace(CONTINUED, '') + ' ' + lines[++l]!.trim();
          commands.push({ command, expected: [], outputLines: { first: b.startLine + 2 + l, last: b.startLine + 1 + l } });
        } else if (commands.length === 0) throw new Error(`line ${lineNo}: a shell example starts with a command ("$ …")`);
        else {
          const c = commands.at(-1)!;
          c.expected.push(text);
          c.outputLines.last = lineNo;
        }
      }
      out.push({ lang, options, line: b.startLine, code: b.body, commands });
    } else {
      const next = blocks[i + 1];
      if (!next || next.info !== 'text output') throw new Error(`line ${b.startLine}: a ${lang} example is followed by its output, a \`\`\`text output block`);
      const expected = next.body === '' ? [] : next.body.split('\n');
      out.push({
        lang,
        options,
        line: b.startLine,
        code: b.body,
        commands: [{ command: b.body, expected, outputLines: { first: next.startLine + 1, last: next.endLine - 1 } }],
      });
    }
  });
  return out;
}

// A number in text: not part of a word or a longer number. Followed by a time unit it is a time, never compared.
const NUMBER = /(?<![\w.])-?\d+(?:[.,]\d+)*(?:e-?\d+)?(?![\w.]*\d)/g;
const TIME_AFTER = /^\s?(?:ms|s)\b/;

/** How strictly numbers are compared: `any`, or within a relative tolerance (with a small absolute floor). */
export interface NumberRule {
  any: boolean;
  relative: number;
  absolute: number;
}

export const DEFAULT_NUMBER_RULE: NumberRule = { any: false, relative: 0.02, absolute: 0.0015 };

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const toNumber = (s: string) => Number(s.replace(/,(?=\d{3}\b)/g, ''));

function numbersClose(expected: string, actual: string, rule: NumberRule): boolean {
  if (rule.any) return true;
  const e = toNumber(expected);
  const a = toNumber(actual);
  if (Number.isNaN(e) || Number.isNaN(a)) return expected === actual;
  return Math.abs(a - e) <= Math.max(rule.relative * Math.abs(e), rule.absolute);
}

/** Does an actual line match an expected one? `…` stands for any text; numbers follow `rule`; times and trailing blanks are ignored. */
export function lineMatches(expected: string, actual: string, rule: NumberRule = DEFAULT_NUMBER_RULE): boolean {
  const e = expected.trimEnd();
  const a = actual.trimEnd();
  if ((e.startsWith('{') || e.startsWith('[')) && !e.includes('…')) {
    try {
      return jsonMatches(JSON.parse(e), JSON.parse(a), rule);
    } catch {
      // not JSON after all: compare as text
    }
  }
  let pattern = '';
  const numbers: { text: string; time: boolean }[] = [];
  let last = 0;
  for (const m of e.matchAll(NUMBER)) {
    pattern += literal(e.slice(last, m.index));
    pattern += '(-?\\d+(?:[.,]\\d+)*(?:e-?\\d+)?)';
    numbers.push({ text: m[0], time: TIME_AFTER.test(e.slice(m.index + m[0].length)) });
    last = m.index + m[0].length;
  }
  pattern += literal(e.slice(last));
  const m = new RegExp(`^${pattern}$`, 's').exec(a);
  if (!m) return false;
  return numbers.every((n, i) => n.time || numbersClose(n.text, m[i + 1]!, rule));
}

const literal = (s: string) => s.split('…').map(escapeRe).join('.*?');

/** Compares parsed JSON: the same keys and types, strings as lines, numbers by `rule`; `timings` objects only need to be there. */
export function jsonMatches(expected: unknown, actual: unknown, rule: NumberRule = DEFAULT_NUMBER_RULE): boolean {
  if (typeof expected === 'number') return typeof actual === 'number' && numbersClose(String(expected), String(actual), rule);
  if (typeof expected === 'string') return typeof actual === 'string' && lineMatches(expected, actual, rule);
  if (expected === null || typeof expected !== 'object') return expected === actual;
  if (actual === null || typeof actual !== 'object' || Array.isArray(expected) !== Array.isArray(actual)) return false;
  if (Array.isArray(expected)) {
    const a = actual as unknown[];
    return expected.length === a.length && expected.every((v, i) => jsonMatches(v, a[i], rule));
  }
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  const keys = Object.keys(e).sort();
  if (keys.join() !== Object.keys(a).sort().join()) return false;
  return keys.every((k) => k === 'timings' || jsonMatches(e[k], a[k], rule));
}

/**
 * Matches actual output lines against the expected ones, where a line holding only `…` stands for
 * any number of lines. Returns, for each expected line, the actual line it matched (`…` lines map
 * to null), or null when the output does not match.
 */
export function matchLines(expected: readonly string[], actual: readonly string[], rule: NumberRule = DEFAULT_NUMBER_RULE): (string | null)[] | null {
  const memo = new Map<string, (string | null)[] | null>();
  const go = (i: number, j: number): (string | null)[] | null => {
    const key = `${i},${j}`;
    if (memo.has(key)) return memo.get(key)!;
    let r: (string | null)[] | null = null;
    if (i === expected.length) r = j === actual.length ? [] : null;
    else if (expected[i]!.trim() === '…') {
      for (let k = j; k <= actual.length && !r; k++) {
        const rest = go(i + 1, k);
        if (rest) r = [null, ...rest];
      }
    } else if (j < actual.length && lineMatches(expected[i]!, actual[j]!, rule)) {
      const rest = go(i + 1, j + 1);
      if (rest) r = [actual[j]!, ...rest];
    }
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** The recorded output after an update: matched lines take the new text, `…` lines stay; an output that no longer matches is replaced whole. */
export function updatedOutput(expected: readonly string[], actual: readonly string[], rule: NumberRule = DEFAULT_NUMBER_RULE): string[] {
  const m = matchLines(expected, actual, rule);
  if (!m) return [...actual];
  return expected.map((e, i) => m[i] ?? e);
}

/** The number rule an example's options ask for. */
export const numberRule = (ex: DocExample): NumberRule => (ex.options.has('numbers=any') ? { ...DEFAULT_NUMBER_RULE, any: true } : DEFAULT_NUMBER_RULE);

/** What running an example gave: each command's output lines (paths of the working directory shown as `…`) and exit status. */
export interface ExampleRun {
  outputs: string[][];
  codes: number[];
}

const require = createRequire(import.meta.url);
const TSX = pathToFileURL(require.resolve('tsx')).href;
const CLI = path.join(repoRoot, 'src', 'cli', 'main.ts');
const MARK = '\u001e';

/**
 * The working directory for a page's examples, made afresh: the photos the examples name
 * (`beagle.jpg`, `foxhound.jpg`, `face.jpg`, `bus.jpg`, `vehicles/`, `imagewoof/`) and to the repository's `models/`.
 */
export async function prepareWorkdir(name: string): Promise<string> {
  const dir = path.join(repoRoot, 'test', 'out', 'examples', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const data = sharedDataDir();
  const links: [string, string][] = [
    ['beagle.jpg', path.join(data, 'imagewoof/val/n02088364/ILSVRC2012_val_00010420.jpg')],
    ['foxhound.jpg', path.join(data, 'imagewoof/val/n02089973/ILSVRC2012_val_00003671.jpg')],
    ['face.jpg', path.join(data, 'lfw/AJ_Cook/AJ_Cook_0001.jpg')],
    ['bus.jpg', path.join(data, 'vehicles/Bus/Image_1.jpg')],
    ['vehicles', path.join(data, 'vehicles')],
    ['imagewoof', path.join(data, 'imagewoof')],
    ['models', path.join(repoRoot, 'models')],
  ];
  // The single photos are copies: a batch worker reads only files under its root (the working
  // directory), and a link out of it is refused, as a deployer would want.
  for (const [link, target] of links) await (link.endsWith('.jpg') ? copyFile : symlink)(target, path.join(dir, link));
  return dir;
}

/** The environment examples run in: the shared models, no network, a feature cache kept between runs. */
export function exampleEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  sharedDir(); // sets IMGCLASS_MODEL_DIR and IMGCLASS_OFFLINE
  return {
    ...process.env,
    IMGCLASS_FEATURE_CACHE: path.join(repoRoot, 'test', 'out', 'examples-feature-cache'),
    ...extra,
  };
}

/** Runs `imgclass serve` on a free port in `cwd` until `stop()`; resolves once it says it is ready. */
async function startServer(cwd: string, env: NodeJS.ProcessEnv): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'serve', '--port', String(port)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`imgclass serve did not get ready in 180 s:\n${log}`)), 180_000);
    const onData = (d: Buffer) => {
      log += d;
      if (/imgclass ready on /.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`imgclass serve exited (${code}):\n${log}`));
    });
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `bash` on `script` in `cwd`, stdout and stderr into one file (so their order is kept); kills what it left running. */
async function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const scriptFile = path.join(cwd, '.example.sh');
  const outFile = path.join(cwd, '.example.out');
  await writeFile(scriptFile, script);
  const fd = openSync(outFile, 'w');
  try {
    const child = spawn('bash', [scriptFile], { cwd, env, stdio: ['ignore', fd, fd], detached: true });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    try {
      process.kill(-child.pid!, 'SIGTERM'); // background jobs the example started (a worker)
    } catch {
      // none left
    }
  } finally {
    closeSync(fd);
  }
  return readFileSync(outFile, 'utf8');
}

/** Runs one example in `cwd` and returns its commands' outputs. */
export async function runExample(ex: DocExample, cwd: string): Promise<ExampleRun> {
  const hide = (text: string) => text.split(cwd).join('…').split(repoRoot).join('…');
  let redis: RedisServer | undefined;
  let server: { port: number; stop: () => Promise<void> } | undefined;
  try {
    if (ex.options.has('redis')) redis = await startRedis();
    const env = exampleEnv(redis ? { IMGCLASS_REDIS_URL: redis.url } : {});
    if (ex.options.has('server')) server = await startServer(cwd, env);
    if (ex.lang === 'sh') {
      const lines = [
        `imgclass() { node --import ${JSON.stringify(TSX)} ${JSON.stringify(CLI)} "$@"; }`,
        'export -f imgclass',
        ...ex.commands.flatMap((c, i) => {
          const command = server ? c.command.replaceAll('127.0.0.1:3000', `127.0.0.1:${server.port}`) : c.command;
          return [`printf '${MARK}%s\\n' ${i}`, command, `printf '${MARK}rc=%s\\n' $?`];
        }),
      ];
      const raw = await runBash(lines.join('\n') + '\n', cwd, env);
      const outputs: string[][] = [];
      const codes: number[] = [];
      for (const part of raw.split(`${MARK}`).slice(1)) {
        const rc = /^rc=(\d+)\n([\s\S]*)$/.exec(part);
        if (rc) {
          codes.push(Number(rc[1]));
          continue;
        }
        const body = part.replace(/^\d+\n/, '');
        outputs.push(
          hide(body)
            .replace(/\n$/, '')
            .split('\n')
            .filter((l, i, all) => !(all.length === 1 && l === '')),
        );
      }
      return { outputs, codes };
    }
    const file = path.join(cwd, `.example-${ex.line}.${ex.lang === 'ts' ? 'ts' : 'mjs'}`);
    await writeFile(file, ex.code.replace(/from 'imgclass'/g, `from ${JSON.stringify(path.join(repoRoot, 'src', 'index.ts'))}`));
    const raw = await runBash(
      `node ${ex.lang === 'ts' ? `--import ${JSON.stringify(TSX)} ` : ''}${JSON.stringify(file)}\nprintf '${MARK}rc=%s\\n' $?\n`,
      cwd,
      env,
    );
    const [body, rc] = raw.split(MARK) as [string, string];
    return { outputs: [hide(body).replace(/\n$/, '').split('\n')], codes: [Number(/rc=(\d+)/.exec(rc ?? '')?.[1] ?? 1)] };
  } finally {
    await server?.stop();
    await redis?.stop();
  }
}

/** Rewrites a page's recorded outputs with `runs` (one per example, in order), keeping each `…` line. */
export function recordOutputs(markdown: string, examples: readonly DocExample[], runs: readonly ExampleRun[]): string {
  const lines = markdown.split('\n');
  const edits: { first: number; last: number; text: string[] }[] = [];
  examples.forEach((ex, e) =>
    ex.commands.forEach((c, i) => edits.push({ ...c.outputLines, text: updatedOutput(c.expected, runs[e]!.outputs[i] ?? [], numberRule(ex)) })),
  );
  for (const edit of edits.sort((a, b) => b.first - a.first)) lines.splice(edit.first - 1, edit.last - edit.first + 1, ...edit.text);
  return lines.join('\n');
}
