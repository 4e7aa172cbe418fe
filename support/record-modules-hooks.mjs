/** The loader hook of record-modules.mjs: every ES import that resolves to a file (tsx's own left out). */
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:') && !context.parentURL?.includes('/node_modules/tsx/'))
    appendFileSync(process.env.IMGCLASS_RECORD_MODULES, fileURLToPath(r.url) + '\n');
  return r;
}
