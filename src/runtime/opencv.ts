import { createRequire } from 'node:module';

// OpenCV.js is a 10 MB Emscripten module. Its Module object has a `then` method that resolves
// with the Module itself, so `await`-ing it directly never settles (each resolution finds a new
// thenable). We take the module once, drop `then`, and hand out a plain object.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- OpenCV.js ships no types; its API is used through this one alias
export type OpenCv = any;

let cv: Promise<OpenCv> | undefined;

export function loadOpenCv(): Promise<OpenCv> {
  cv ??= new Promise((resolve, reject) => {
    const require = createRequire(import.meta.url);
    const mod = require('@techstark/opencv-js');
    const done = (m: OpenCv) => {
      delete m.then;
      resolve(m);
    };
    if (typeof mod.then === 'function') mod.then(done, reject);
    else if (mod.Mat) done(mod);
    else mod.onRuntimeInitialized = () => done(mod);
  });
  return cv;
}
