/**
 * The backbone every command uses unless told otherwise (the toolkit's; the dog app has its own,
 * app/tuning.ts). A module with nothing to import, so the command line can show it as a default
 * without loading the registry.
 */
export const DEFAULT_BACKBONE = 'mobilenet_v1_0.75_224';
