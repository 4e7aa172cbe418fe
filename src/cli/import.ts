import { getDefaultStore } from '../models/store.js';
import { loadImportedModels } from '../models/imported-models.js';
import type { ImportOptions } from '../models/tflite/import.js';

/** `imgclass import model.tflite`: register a user's TFLite classifier under a name every command resolves. */
export async function runImport(file: string, o: ImportOptions & { json?: boolean }): Promise<number> {
  const { importTflite } = await import('../models/tflite/import.js');
  const entry = await importTflite(file, getDefaultStore(), o);
  const b = entry.backbone!;
  if (o.json) process.stdout.write(JSON.stringify(entry) + '\n');
  else
    process.stdout.write(
      `imported ${entry.name}: ${entry.description}\n` +
        `  probabilities ${b.probabilitiesOutput}${b.probabilitiesAreSoftmax ? ' (softmax)' : ' (logits)'}, features ${b.featuresOutput}\n` +
        `  input ${b.preprocessing.width}×${b.preprocessing.height}, (x − ${b.preprocessing.mean[0]}) / ${b.preprocessing.std[0]}\n` +
        `  use it by name: imgclass features DATA --backbone ${entry.name}; imgclass train DATA --backbone ${entry.name}\n`,
    );
  return 0;
}

/** Every imported model, registered before a command resolves names. */
export async function registerImportedModels(): Promise<void> {
  await loadImportedModels(getDefaultStore());
}
