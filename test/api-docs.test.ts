import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApiDocs } from '../support/api-docs.js';

test('the API reference: every export of src/index.ts is documented (TypeDoc validation, nothing written)', async () => {
  const { problems } = await buildApiDocs({ emit: false });
  assert.deepEqual(problems, [], 'add a TSDoc comment to each of these, then `npm run docs:api`');
});
