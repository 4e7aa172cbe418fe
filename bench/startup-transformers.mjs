/**
 * bench:startup's reference for the library's first answer, run as a cold process:
 * transformers.js's pipeline('image-classification') on the same MobileNet weights
 * (transformers-model.ts), from local files only, on one photo. Prints its answer as JSON.
 * Usage: node bench/startup-transformers.mjs LOCAL_MODEL_PATH NAME PHOTO
 */
import process from 'node:process';
import { env, pipeline } from '@huggingface/transformers';

const [localModelPath, name, photo] = process.argv.slice(2);
env.allowRemoteModels = false;
env.localModelPath = localModelPath;
const classify = await pipeline('image-classification', name, { dtype: 'fp32', device: 'cpu' });
const [top] = await classify(photo, { top_k: 1 });
process.stdout.write(JSON.stringify(top) + '\n');
