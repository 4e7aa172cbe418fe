import { describeError, isImgclassError, type ImgclassError } from '../util/errors.js';
import { progress } from '../util/progress.js';

/**
 * The per-file loop of `predict` and `classify`: one line per file, in order, with a progress bar.
 * A bad file (an ImgclassError: not an image, truncated …) becomes its own error line and counts
 * as failed; anything else is our bug, not the file's, and stops the run loudly.
 * Returns how many files failed.
 */
export async function forEachFile<Line>(
  label: string,
  files: string[],
  answer: (file: string) => Promise<Line>,
  failure: (file: string, e: ImgclassError, message: string) => Line,
  write: (line: Line) => void,
): Promise<number> {
  const bar = progress(label, files.length);
  let failed = 0;
  try {
    for (const file of files) {
      let line: Line;
      try {
        line = await answer(file);
      } catch (e) {
        if (!isImgclassError(e)) throw e;
        failed++;
        line = failure(file, e, describeError(e));
      }
      bar.tick();
      write(line);
    }
  } finally {
    bar.stop();
  }
  return failed;
}
