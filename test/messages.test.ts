import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeMessage, NAME_ONE, namedBreedCount } from '../src/app/messages.js';

const rule = { mass: 0.8, max: 3, floor: 0.05 };
const breeds = (...ps: number[]) =>
  ps.map((probability, i) => ({ name: ['Norfolk terrier', 'Norwich terrier', 'Airedale', 'Border terrier'][i]!, probability }));

test('an answer names the fewest breeds whose probabilities reach the mass, at most max', () => {
  assert.equal(namedBreedCount([0.9, 0.05, 0.03], rule), 1);
  assert.equal(namedBreedCount([0.8, 0.1, 0.05], rule), 1, 'the mass reached exactly');
  assert.equal(namedBreedCount([0.5, 0.35, 0.1], rule), 2);
  assert.equal(namedBreedCount([0.5, 0.25, 0.1, 0.1], rule), 3);
  assert.equal(namedBreedCount([0.3, 0.2, 0.1, 0.1], rule), 3, 'never more than max');
  assert.equal(namedBreedCount([0.3, 0.2], rule), 2, 'never more than there are');
  assert.equal(namedBreedCount([0.3, 0.2, 0.1], NAME_ONE), 1);
  assert.equal(namedBreedCount([], rule), 0);
});

test("the message says one breed when sure, the few it may be when not; a person's resemblance stays one", () => {
  assert.equal(composeMessage('dog', breeds(0.91, 0.05), undefined, 0, rule), 'Dog detected. It looks like a Norfolk terrier (91.0%).');
  assert.equal(
    composeMessage('dog', breeds(0.48, 0.302, 0.091, 0.05), undefined, 0, rule),
    'Dog detected. It looks like a Norfolk terrier (48.0%), or perhaps a Norwich terrier (30.2%) or an Airedale (9.1%).',
  );
  assert.equal(
    composeMessage('dog', breeds(0.5, 0.4), undefined, 0, rule),
    'Dog detected. It looks like a Norfolk terrier (50.0%), or perhaps a Norwich terrier (40.0%).',
  );
  assert.equal(composeMessage('dog', breeds(0.5, 0.4), undefined, 0), 'Dog detected. It looks like a Norfolk terrier (50.0%).', 'one breed unless told');
  assert.equal(
    composeMessage('both', breeds(0.5, 0.4), breeds(0.3, 0.3, 0.3), 1, rule),
    'Dog and human detected. The dog looks like a Norfolk terrier (50.0%), or perhaps a Norwich terrier (40.0%); the person most resembles a Norfolk terrier (30.0%).',
  );
  assert.equal(
    composeMessage('human', breeds(0.3, 0.3, 0.3), undefined, 2, rule),
    'Human detected (2 faces). This person most resembles a Norfolk terrier (30.0%).',
  );
});
