/**
 * The presets' names and the default one: a module with nothing to import, so the command line can
 * offer them without loading the app (quality.ts says what each preset runs, and why 'accurate'
 * is the default).
 */
export const QUALITIES = ['standard', 'fast', 'accurate'] as const;
/** A preset's name: `standard`, `fast` or `accurate` (the default), in increasing work per photo. */
export type Quality = (typeof QUALITIES)[number];

export const DEFAULT_QUALITY: Quality = 'accurate';
