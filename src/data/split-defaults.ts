/**
 * The parts a data set without split folders is divided into (loadDataset), and the seed `train`
 * uses by default: one definition for the command line and the browser's device-mode training. A
 * module with nothing to import, so the command line shows them without loading the splitter.
 */
export const DEFAULT_HELD_OUT = { valid: 0.15, test: 0.15 } as const;
export const DEFAULT_SPLIT_SEED = 42;
