/**
 * bench:startup's library run, as a cold process: import the package's main entry, create the
 * dog app (standard preset: the backbone and YuNet) and classify one photo. Prints the answer's
 * kind and top breed as JSON.
 * Usage: node bench/startup-library.mjs PATH/TO/dist/index.js PHOTO
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [entry, photo] = process.argv.slice(2);
const { createDogApp } = await import(pathToFileURL(entry).href);
const app = await createDogApp({ quality: 'standard' });
const r = await app.classify(photo);
process.stdout.write(JSON.stringify({ kind: r.kind, breed: r.breeds[0]?.name, probability: r.breeds[0]?.probability }) + '\n');
app.dispose();
