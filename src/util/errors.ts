/**
 * One error type for everything a user can cause (bad input, missing model, bad options),
 * so the CLI, the server and library users can tell "your input" from "our bug".
 * `code` is stable and machine-readable; `message` is for people.
 */
export type ImgclassErrorCode =
  | 'EMPTY_INPUT'
  | 'NOT_AN_IMAGE'
  | 'UNSUPPORTED_FORMAT'
  | 'CORRUPT_IMAGE'
  | 'TOO_MANY_BYTES'
  | 'TOO_MANY_PIXELS'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_CORRUPT'
  /** a model file uses an operator or option the importer does not convert (tflite/convert.ts) */
  | 'UNSUPPORTED_MODEL'
  | 'CHECKSUM_MISMATCH'
  | 'BAD_OPTION'
  | 'BAD_DATASET'
  /** a run directory to resume is missing, is not a training run, or is damaged */
  | 'BAD_RUN'
  | 'FILE_NOT_FOUND'
  // batch jobs (imgclass worker / batch)
  | 'FETCH_FAILED'
  | 'JOB_FAILED'
  | 'CANCELLED'
  | 'REDIS_UNAVAILABLE'
  | 'BATCH_NOT_FOUND'
  | 'BATCH_INCOMPLETE';

export class ImgclassError extends Error {
  readonly code: ImgclassErrorCode;
  constructor(code: ImgclassErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImgclassError';
    this.code = code;
  }
}

export function isImgclassError(e: unknown): e is ImgclassError {
  return e instanceof ImgclassError;
}

/** A one-line, human-readable description of any thrown value. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
