/**
 * `node --import ./support/record-modules.mjs …`: appends to the file $IMGCLASS_RECORD_MODULES the
 * path of every module the process (and its worker threads) imports or requires, one a line, each
 * time it is asked for (so a module that tsx itself loaded first still shows when the program asks
 * for it too). ES imports are seen by a loader hook (record-modules-hooks.mjs), require() where
 * Node resolves it: the hooks of Node 20 do not see require() inside CommonJS packages. What tsx
 * loads for its own work (esbuild, to compile the sources) is left out. test/startup.test.ts
 * reads it to check which packages a command loads: a structural check, not a timer.
 */
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { Module, isBuiltin, register } from 'node:module';

const out = process.env.IMGCLASS_RECORD_MODULES;
if (out) {
  register('./record-modules-hooks.mjs', import.meta.url);
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    if (!isBuiltin(request) && !parent?.filename?.includes('/node_modules/tsx/')) {
      try {
        appendFileSync(out, Module._resolveFilename(request, parent, isMain) + '\n');
      } catch {
        /* not resolvable: the real load below reports it */
      }
    }
    return load.call(this, request, parent, isMain);
  };
}
