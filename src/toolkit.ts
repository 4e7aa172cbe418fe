/**
 * imgclass/toolkit: training on TF.js, the seed's networks and the tuning around them. A subpath of
 * its own because importing it starts TF.js (~250 ms), which the main entry (index.ts: the app,
 * inference, data, evaluation) never does.
 */
export { featureHead, imagenetInitHead, seedScratchCnn, seedOtsuCnn, makeOptimizer, type OptimizerName } from './training/architectures.js';
export { runTraining, type TrainingOptions, type ResumeRequest, type Architecture } from './training/pipeline.js';
export { sweep, kfold } from './training/tuning.js';
export { loadModelDir, saveModelDir } from './models/model-dir.js';
export { initTf } from './runtime/tf.js';
