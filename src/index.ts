/**
 * imgclass: image classification with convolutional networks, in TypeScript.
 * The dog-breed app (createDogApp) and the toolkit behind it.
 *
 * This entry loads nothing heavy up front: onnxruntime loads on the sessions' worker threads, sharp
 * on the first photo it must decode or scale (a plain JPEG is decoded by data/jpeg.ts), TF.js,
 * OpenCV.js (the Haar detector) and the charts (vega) when a function that uses them is called. Building
 * and training TF.js networks is the `imgclass/toolkit` entry (toolkit.ts), which loads TF.js.
 */
export { createDogApp, DogApp, type DogAppOptions, type DogAppResult, type ResultKind, type FaceDetectorName } from './app/dog-app.js';
export { NAME_ONE, type NamedBreeds } from './app/messages.js';
export { dogPlan, PRESETS, QUALITIES, type DogPlan, type DogPlanOverrides, type Quality, type PresetSteps } from './app/quality.js';
export { BACKBONE_TUNING, backboneTuning, type BackboneTuning, type BreedViewsTuning } from './app/tuning.js';
export type { ImageInput } from './data/image.js';
export { ImgclassError, isImgclassError, type ImgclassErrorCode } from './util/errors.js';

// data
export {
  decodeImage,
  loadImage,
  sniffFormat,
  resolveLimits,
  DEFAULT_DECODE_LIMITS,
  type RgbImage,
  type DecodedImage,
  type DecodeLimits,
} from './data/image.js';
export { walkImages, describeSkipped, type WalkResult, type SkippedFile, type SkipReason } from './data/walk.js';
export { PREPROCESSING_PRESETS, preprocessBatch, samePreprocessing, type Preprocessing } from './data/preprocess.js';
export { otsuThreshold, otsuBinarize } from './data/otsu.js';
export { loadDataset, matchClasses, fingerprint, type Dataset, type LabeledFile, type SplitName } from './data/dataset.js';
export { stratifiedSplit, stratifiedKFold } from './data/split.js';
export { explore, type Exploration } from './data/explore.js';

// models
export { REGISTRY, registryEntry, backboneNames, type RegistryEntry, type BackboneSpec } from './models/registry.js';
export { ModelStore, getDefaultStore, type ModelStoreOptions } from './models/store.js';
export { loadBackbone, type Backbone, type BackboneOutput } from './models/backbone.js';
export { ImagenetSubsetClassifier, TrainedClassifier, topK, type Classifier, type ClassProbability } from './models/classifier.js';
export { loadModelDir, saveModelDir, readManifest, type ModelManifest, type ClassInfo, type ModelInput } from './models/model-dir.js';
export { extractFeatures, type FeatureRow } from './features/bottleneck.js';

// detectors
export { detectDog, type DogRule, type DogDetectorOptions, type DogRuleOptions } from './detectors/imagenet-dog-rule.js';
export { HaarFaceDetector, type HaarOptions } from './detectors/face/haar.js';
export { YunetFaceDetector, type YunetOptions } from './detectors/face/yunet.js';
export type { FaceBox, FaceDetector } from './detectors/face/types.js';

// evaluation (training: imgclass/toolkit)
export { evaluate, confusionMatrix, topLosses, type Evaluation } from './evaluation/metrics.js';
export { evaluateModels, type EvalReport } from './evaluation/run-eval.js';
