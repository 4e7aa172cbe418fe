import { loadImage, type ImageInput } from '../data/image.js';
import { describeError, isImgclassError, type ImgclassError } from '../util/errors.js';
import { progress } from '../util/progress.js';

/** From how many files a run readies its models for many photos (`forEachFile`'s `warmUp`). */
export const MANY_FILES = 40;

/**
 * The per-file loop of `predict` and `classify`: one line per file, in order, with a progress bar.
 * A bad file (an ImgclassError: not an image, truncated …) becomes its own error line and counts
 * as failed; anything else is our bug, not the file's, and stops the run loudly.
 * Returns how many files failed.
 *
 * `warmUp`: what readies the models for many photos (the backbone's sessions side by side,
 * models/backbone.ts), started beside the first files when there are at least MANY_FILES. Its
 * second session's start (~70 ms in a cold process) pays back after about 40 photos, at 1.5–2 ms
 * saved each; if it fails, the run goes on as it was, and says so.
 */
export async function forEachFile<Line>(
  label: string,
  files: string[],
  answer: (file: string) => Promise<Line>,
  failure: (file: string, e: ImgclassError, message: string) => Line,
  write: (line: Line) => void,
  warmUp?: () => Promise<void>,
): Promise<number> {
  if (warmUp && files.length >= MANY_FILES)
    warmUp().catch((e: unknown) => process.stderr.write(`imgclass ${label}: ${describeError(e)} (going on as before)\n`));
  const bar = progress(label, files.length);
  let failed = 0;
  // The next file starts while this one finishes (its read and decode overlap this one's model
  // passes, which run on ORT's worker threads); lines are still written in the files' order.
  const ahead = 2;
  const started: Promise<{ line: Line } | { error: unknown }>[] = [];
  const start = (i: number) => {
    if (i < files.length)
      started[i] = answer(files[i]!).then(
        (line) => ({ line }),
        (error: unknown) => ({ error }),
      );
  };
  for (let i = 0; i < ahead; i++) start(i);
  try {
    for (const [i, file] of files.entries()) {
      const done = await started[i]!;
      start(i + ahead);
      let line: Line;
      if ('line' in done) line = done.line;
      else {
        if (!isImgclassError(done.error)) throw done.error;
        failed++;
        line = failure(file, done.error, describeError(done.error));
      }
      bar.tick();
      write(line);
    }
  } finally {
    bar.stop();
  }
  return failed;
}

/**
 * Reads and decodes the first file now, while the models load on their worker threads (the main
 * thread would only wait for them): a cold `predict` or `classify` of one photo starts its model
 * passes sooner. `input(file)` hands that decode over once, and is the path itself for any other
 * file. The decode uses the default limits, as the commands' apps do; a bad file fails here and is
 * reported in its turn, as it would have been.
 */
export function decodeFirstAhead(files: string[]): (file: string) => Promise<ImageInput> {
  const first = files[0];
  let ahead = first === undefined ? undefined : loadImage(first);
  ahead?.catch(() => undefined); // awaited in its turn; until then a failure is not unhandled
  return async (file) => {
    if (file !== first || !ahead) return file;
    const decoded = ahead;
    ahead = undefined;
    return decoded;
  };
}
