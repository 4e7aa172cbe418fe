import { createRequire } from 'node:module';

/**
 * `require` for packages that ship CommonJS. Node's `import` of a CommonJS package (or of its ES
 * module wrapper) costs a cold process about twice what `require` does, measured on the 2-core
 * machine: commander 24 ms against 13 ms, fastify and its four plugins 180 ms against 128 ms,
 * sharp 130 ms against 68 ms, onnxruntime-node 40 ms against 23 ms (docs/startup.md, "Fourth
 * round"). The commands and the server load theirs through here; a call site casts the result to
 * `typeof import('the-package')`, which costs nothing at run time.
 */
export const requireCjs = createRequire(import.meta.url);
