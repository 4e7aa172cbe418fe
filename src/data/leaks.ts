/**
 * Which scored photos have a byte-identical copy among the training photos, host-neutral: the
 * command line hashes files on disk (duplicates.ts), the browser's device-mode training hashes
 * the dropped photos' bytes; the rule is this one.
 */
export async function leaksBy<T>(
  scored: T[],
  training: T[],
  hashOf: (x: T) => Promise<string>,
  nameOf: (x: T) => string,
): Promise<{ file: string; copies: string[] }[]> {
  const train = new Map<string, string[]>();
  for (const f of training) {
    const h = await hashOf(f);
    train.set(h, [...(train.get(h) ?? []), nameOf(f)]);
  }
  const out: { file: string; copies: string[] }[] = [];
  for (const f of scored) {
    const copies = (train.get(await hashOf(f)) ?? []).filter((c) => c !== nameOf(f));
    if (copies.length) out.push({ file: nameOf(f), copies });
  }
  return out;
}
