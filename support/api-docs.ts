/**
 * The API reference (`npm run docs:api`): TypeDoc over everything src/index.ts exports, configured
 * by typedoc.json, written to dist/api/. Its validation warnings (an exported function, class,
 * interface, type or constant without a TSDoc comment; a broken `{@link}`) are errors here: the
 * run lists them and fails. test/api-docs.test.ts runs the validation without writing the site.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Application, TSConfigReader, TypeDocReader } from 'typedoc';
import { repoRoot } from './markdown.js';

/** What a TypeDoc run found wrong, and where the site went (when written). */
export interface ApiDocsResult {
  problems: string[];
  out: string | null;
}

/** Runs TypeDoc on the library's entry point; with `emit`, writes the HTML reference to typedoc.json's `out`. */
export async function buildApiDocs({ emit }: { emit: boolean }): Promise<ApiDocsResult> {
  const cwd = process.cwd();
  process.chdir(repoRoot); // typedoc.json's paths are relative to the repository
  try {
    const app = await Application.bootstrapWithPlugins({ options: path.join(repoRoot, 'typedoc.json') }, [new TypeDocReader(), new TSConfigReader()]);
    const problems: string[] = [];
    const logger = app.logger;
    const warn = logger.validationWarning.bind(logger) as (...args: unknown[]) => void;
    logger.validationWarning = ((text: string, ...rest: unknown[]) => {
      problems.push(String(text));
      warn(text, ...rest);
    }) as typeof logger.validationWarning;
    const project = await app.convert();
    if (!project) return { problems: ['TypeDoc could not convert the project (see the errors above)'], out: null };
    app.validate(project);
    if (logger.errorCount > 0) problems.push(`${logger.errorCount} TypeDoc error(s) (see above)`);
    if (!emit || problems.length > 0) return { problems, out: null };
    const out = path.resolve(repoRoot, app.options.getValue('out'));
    await app.generateDocs(project, out);
    return { problems, out };
  } finally {
    process.chdir(cwd);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { problems, out } = await buildApiDocs({ emit: true });
  if (problems.length > 0) {
    process.stderr.write(
      `docs:api: ${problems.length} problem(s); every export of src/index.ts needs a TSDoc comment:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
    );
    process.exitCode = 1;
  } else process.stdout.write(`docs:api: the API reference is in ${path.relative(process.cwd(), out!)}/index.html\n`);
}
