import { IMAGENET_CLASSES_FILE } from '../data/imagenet.js';
import type { StoredFile } from '../util/file-store.js';
import { PREPROCESSING_PRESETS, type Preprocessing } from '../data/tensor.js';
import type { ResizeMode } from '../data/pixels.js';
import { MOBILENET_V1_075_224_SHA256 } from './mobilenet-checksums.js';

/**
 * The registry of named pretrained files (timm-style): where each lives inside a model
 * directory, where to download it, its pinned sha256, and, for backbones, the preprocessing it
 * was trained with and which outputs give probabilities and features.
 *
 * Resolution order is always: $IMGCLASS_MODEL_DIR, then the per-user cache, then download
 * (see store.ts). Every download is pinned by sha256 (the ONNX model zoo's from the Git LFS
 * pointers in the public onnx/models repository); an entry with `sha256: null` has no public
 * download and must be placed in the model directory by hand.
 */
export type ModelFile = StoredFile;

export type ModelFormat = 'tfjs-layers' | 'onnx' | 'tflite' | 'opencv-haar' | 'tsv' | 'text';

/** How a registry model is used as a backbone: its preprocessing, the outputs holding ImageNet scores and pooled features, and the resize modes it accepts. */
export interface BackboneSpec {
  preprocessing: Preprocessing;
  /** Tensor (ONNX) or layer (TF.js) holding the 1000 ImageNet class scores. */
  probabilitiesOutput: string;
  /** true when that output is already softmaxed (else the engine adds a softmax). */
  probabilitiesAreSoftmax: boolean;
  /**
   * Tensor (ONNX) or layer (TF.js) holding the pooled penultimate features ("bottleneck features"):
   * an internal tensor of a zoo graph is exposed as an output when the backbone is loaded.
   */
  featuresOutput: string;
  featureDim: number;
  /** The layer that is the ImageNet classifier on the features (MobileNet's 1×1 conv), for ImageNet-initialised heads. */
  imagenetHead?: string;
  /** The resize modes this backbone can be fed (the first fixed one is in `preprocessing`). */
  resizeModes: readonly ResizeMode[];
  /**
   * Outputs before ImageNet class 0 in `probabilitiesOutput` (TFLite's classifiers: 1, `background`
   * first, 1001 outputs); the engine graph drops them and renormalises the 1000 classes.
   */
  classOffset?: number;
}

/** A pretrained model the store can resolve by name: its files (pinned by sha256, with a download URL where one exists), licence, and backbone spec if it is one. */
export interface RegistryEntry {
  name: string;
  format: ModelFormat;
  description: string;
  license: string;
  /** The file a loader opens (model.json, the .onnx, the .xml …); others are its companions. */
  main: string;
  files: ModelFile[];
  backbone?: BackboneSpec;
}

const TFJS_MOBILENET_URL = 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224';
const OPENCV_DATA_URL = 'https://raw.githubusercontent.com/opencv/opencv/4.6.0/data/haarcascades';
const ONNX_ZOO_URL = 'https://github.com/onnx/models/raw/main/validated/vision/classification';
const MLCOMMONS_URL = 'https://github.com/mlcommons/mobile_models/raw/1f9963316b81a63fdef1040133ae64f6e8879c5b/v0_7/tflite';
const CORAL_TEST_DATA_URL = 'https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41';

/**
 * A fully quantised TFLite ImageNet classifier (1001 outputs, background first): fed the fitted
 * pixels as its uint8 input, whose own scale and zero point (`zeroPoint`, 1/`inverseScale`) map
 * them to [-1, 1]. Shorter side to 224 and the centre square, no Inception central crop: measured
 * on the unseen Imagewoof photos (breed top-1, tuning half / report half), the whole centre square
 * beats `crop: 0.875` for both files (EdgeTPU 77.3/72.9% against 76.4/70.7%, MobileNetV2
 * 70.7/66.7% against 67.1/65.3%; docs/tflite.md).
 */
const tfliteImagenet = (o: { zeroPoint: number; inverseScale: number; probabilities: string; features: string }): BackboneSpec => ({
  preprocessing: {
    width: 224,
    height: 224,
    resize: 'center-crop',
    colour: 'rgb',
    layout: 'nhwc',
    scale: 1,
    mean: [o.zeroPoint, o.zeroPoint, o.zeroPoint],
    std: [o.inverseScale, o.inverseScale, o.inverseScale],
  },
  probabilitiesOutput: o.probabilities,
  probabilitiesAreSoftmax: true,
  featuresOutput: o.features,
  featureDim: 1280,
  classOffset: 1,
  resizeModes: FIXED_SIZE,
});

export { DEFAULT_BACKBONE } from './default-backbone.js';

/** ONNX exports with a fixed input size take fixed-size views only. */
const FIXED_SIZE: readonly ResizeMode[] = ['center-crop', 'squash'];

const haar = (variant: string, sha256: string): RegistryEntry => ({
  name: `haarcascade_frontalface_${variant}`,
  format: 'opencv-haar',
  description: `OpenCV Haar cascade, frontal face (${variant})`,
  license: 'Intel open-source licence (in the XML header)',
  main: `haarcascades/haarcascade_frontalface_${variant}.xml`,
  files: [{ path: `haarcascades/haarcascade_frontalface_${variant}.xml`, sha256, url: `${OPENCV_DATA_URL}/haarcascade_frontalface_${variant}.xml` }],
});

const BUILTIN: RegistryEntry[] = [
  {
    name: 'mobilenet_v1_0.75_224',
    format: 'tfjs-layers',
    description: 'MobileNet v1 α=0.75, ImageNet-1k (top-1 ≈ 68%), 768-d pooled features',
    license: 'Apache-2.0',
    main: 'mobilenet_v1_0.75_224/model.json',
    files: Object.entries(MOBILENET_V1_075_224_SHA256).map(([f, sha256]) => ({
      path: `mobilenet_v1_0.75_224/${f}`,
      sha256,
      url: `${TFJS_MOBILENET_URL}/${f}`,
    })),
    // Shorter side to 224, then the centre square: MobileNet was trained on aspect-preserving crops;
    // squashing (Keras load_img) distorts the photo and costs 2 points on Imagewoof (92.8% → 94.8%).
    backbone: {
      preprocessing: { ...PREPROCESSING_PRESETS.tf(224), resize: 'center-crop' },
      probabilitiesOutput: 'reshape_2',
      probabilitiesAreSoftmax: true,
      featuresOutput: 'global_average_pooling2d_1',
      featureDim: 768,
      imagenetHead: 'conv_preds',
      resizeModes: ['center-crop', 'squash', 'keep-aspect'],
    },
  },
  {
    name: 'resnet50',
    format: 'onnx',
    description: 'ResNet-50 v2, ImageNet-1k (ONNX model zoo, top-1 75.8%), 2048-d pooled features',
    license: 'Apache-2.0',
    main: 'resnet50/resnet50-v2-7.onnx',
    // sha256 from the Git LFS pointer of validated/vision/classification/resnet/model/resnet50-v2-7.onnx (102,442,452 bytes).
    files: [
      {
        path: 'resnet50/resnet50-v2-7.onnx',
        sha256: '79102261eb6e5fd7af5d27f41316293e388c5cb691e5d25bfb035c4f64fefe31',
        url: `${ONNX_ZOO_URL}/resnet/model/resnet50-v2-7.onnx`,
      },
    ],
    backbone: {
      preprocessing: PREPROCESSING_PRESETS.torch(224),
      probabilitiesOutput: 'resnetv24_dense0_fwd',
      probabilitiesAreSoftmax: false,
      featuresOutput: 'resnetv24_pool1_fwd',
      featureDim: 2048,
      resizeModes: FIXED_SIZE,
    },
  },
  {
    name: 'vgg16',
    format: 'onnx',
    description: 'VGG-16, ImageNet-1k (ONNX model zoo, top-1 72.6%), 4096-d fc7 features',
    license: 'Apache-2.0',
    main: 'vgg16/vgg16-7.onnx',
    // sha256 from the Git LFS pointer of validated/vision/classification/vgg/model/vgg16-7.onnx (553,437,328 bytes).
    files: [
      { path: 'vgg16/vgg16-7.onnx', sha256: 'f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9', url: `${ONNX_ZOO_URL}/vgg/model/vgg16-7.onnx` },
    ],
    backbone: {
      preprocessing: PREPROCESSING_PRESETS.torch(224),
      probabilitiesOutput: 'vgg0_dense2_fwd',
      probabilitiesAreSoftmax: false,
      featuresOutput: 'flatten_70',
      featureDim: 4096,
      resizeModes: FIXED_SIZE,
    },
  },
  {
    name: 'efficientnet_lite4',
    format: 'onnx',
    description: 'EfficientNet-Lite4, ImageNet-1k (ONNX model zoo, top-1 80.4%), NHWC, 1280-d pooled features',
    license: 'Apache-2.0',
    main: 'efficientnet_lite4/efficientnet-lite4-11.onnx',
    // sha256 from the Git LFS pointer of validated/vision/classification/efficientnet-lite4/model/efficientnet-lite4-11.onnx (51,946,641 bytes).
    files: [
      {
        path: 'efficientnet_lite4/efficientnet-lite4-11.onnx',
        sha256: 'd111689907c06eea7c82e4833ddef758da6453b9d4cf60b7e99ca05c7cbd9c12',
        url: `${ONNX_ZOO_URL}/efficientnet-lite4/model/efficientnet-lite4-11.onnx`,
      },
    ],
    backbone: {
      preprocessing: { width: 224, height: 224, resize: 'center-crop', colour: 'rgb', layout: 'nhwc', scale: 1, mean: [127, 127, 127], std: [128, 128, 128] },
      probabilitiesOutput: 'Softmax:0',
      probabilitiesAreSoftmax: true,
      featuresOutput: 'efficientnet-lite4/model/head/AvgPool:0',
      featureDim: 1280,
      resizeModes: FIXED_SIZE,
    },
  },
  {
    name: 'mobilenet_edgetpu_224_1.0',
    format: 'tflite',
    description: 'MobileNet-EdgeTPU 1.0, ImageNet-1k, uint8 TFLite (MLPerf reference; top-1 75.6% in 8 bits), 1280-d pooled features',
    license: 'Apache-2.0',
    main: 'mobilenet_edgetpu_224_1.0/mobilenet_edgetpu_224_1.0_uint8.tflite',
    files: [
      {
        path: 'mobilenet_edgetpu_224_1.0/mobilenet_edgetpu_224_1.0_uint8.tflite',
        sha256: '5d63cb8ebd518217794221bbcb929ebb89c5ec37d736429a95650e88f9e904fa',
        url: `${MLCOMMONS_URL}/mobilenet_edgetpu_224_1.0_uint8.tflite`,
      },
    ],
    // The input's own quantisation: scale 0.007874 = 1/127, zero point 128.
    backbone: tfliteImagenet({ zeroPoint: 128, inverseScale: 127, probabilities: 'MobilenetEdgeTPU/Predictions/Softmax', features: 'MobilenetEdgeTPU/Logits/AvgPool' }),
  },
  {
    name: 'mobilenet_v2_1.0_224_quant',
    format: 'tflite',
    description: 'MobileNetV2 1.0, ImageNet-1k, uint8 TFLite (top-1 70.8% in 8 bits), 1280-d pooled features',
    license: 'Apache-2.0',
    main: 'mobilenet_v2_1.0_224_quant/mobilenet_v2_1.0_224_quant.tflite',
    files: [
      {
        path: 'mobilenet_v2_1.0_224_quant/mobilenet_v2_1.0_224_quant.tflite',
        sha256: '7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776',
        url: `${CORAL_TEST_DATA_URL}/mobilenet_v2_1.0_224_quant.tflite`,
      },
    ],
    // The input's own quantisation: scale 1/128, zero point 128.
    backbone: tfliteImagenet({ zeroPoint: 128, inverseScale: 128, probabilities: 'MobilenetV2/Predictions/Softmax', features: 'MobilenetV2/Logits/AvgPool' }),
  },
  {
    // The ONNX model zoo has no Inception v3. Export your own (torchvision → ONNX, 299², NCHW) with
    // the logits as tensor "output" and the 2048-d average pool as tensor "features" (or edit this
    // entry's names with registerModel), and place it in $IMGCLASS_MODEL_DIR/inception_v3/.
    name: 'inception_v3',
    format: 'onnx',
    description: 'Inception v3, ImageNet-1k (bring your own ONNX export; torchvision preprocessing at 299²), 2048-d pooled features',
    license: 'BSD-3-Clause (torchvision weights)',
    main: 'inception_v3/inception_v3.onnx',
    files: [{ path: 'inception_v3/inception_v3.onnx', sha256: null, url: null }],
    backbone: {
      preprocessing: PREPROCESSING_PRESETS.torch(299),
      probabilitiesOutput: 'output',
      probabilitiesAreSoftmax: false,
      featuresOutput: 'features',
      featureDim: 2048,
      resizeModes: FIXED_SIZE,
    },
  },
  haar('alt', '6281df13459cc218ff047d02b2ae3859b12ff14a93ffe8952f7b33fad7b9697b'),
  haar('alt2', '7b0c967d9abbdfbde025eb9c786947d151b6426040d07a8f9562ed8fd90724b4'),
  haar('default', '0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0'),
  {
    name: 'yunet_n',
    format: 'onnx',
    description: 'YuNet face detector (libfacedetection.train), 320×320, BGR 0–255',
    license: 'Apache-2.0',
    main: 'face/yunet_n_320_320.onnx',
    files: [
      {
        path: 'face/yunet_n_320_320.onnx',
        sha256: '81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2',
        url: 'https://github.com/ShiqiYu/libfacedetection.train/raw/master/onnx/yunet_n_320_320.onnx',
      },
    ],
  },
  {
    name: 'yunet_s',
    format: 'onnx',
    description: 'YuNet face detector, small variant, 320×320, BGR 0–255',
    license: 'Apache-2.0',
    main: 'face/yunet_s_320_320.onnx',
    files: [
      {
        path: 'face/yunet_s_320_320.onnx',
        sha256: 'beb05bf2378aee45cd7c41056da07265b7bb91041ed1b06f923819a9c744ec36',
        url: 'https://github.com/ShiqiYu/libfacedetection.train/raw/master/onnx/yunet_s_320_320.onnx',
      },
    ],
  },
  {
    name: 'yolox_nano',
    format: 'onnx',
    description: 'YOLOX-nano COCO detector (80 classes; dog = 16, person = 0), 416×416',
    license: 'Apache-2.0',
    main: 'coco/yolox_nano.onnx',
    files: [
      {
        path: 'coco/yolox_nano.onnx',
        sha256: '695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14',
        url: 'https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx',
      },
    ],
  },
  {
    // The class list ships with the model directory; it has no single public file of this exact form.
    name: 'imagenet_classes',
    format: 'tsv',
    description: 'ImageNet-1k class index, WordNet id, short name, synonyms',
    license: 'WordNet licence',
    main: 'imagenet/classes.tsv',
    files: [IMAGENET_CLASSES_FILE],
  },
];

/** Every registered model: the built-in ones, then any added with registerModel. */
export const REGISTRY: readonly RegistryEntry[] = BUILTIN;

/**
 * Add (or replace) a named model, e.g. your own ONNX backbone with its preprocessing: from then on
 * every command and `loadBackbone(name)` resolves it like the built-in ones.
 */
export function registerModel(entry: RegistryEntry): void {
  const i = BUILTIN.findIndex((r) => r.name === entry.name);
  if (i >= 0) BUILTIN[i] = entry;
  else BUILTIN.push(entry);
}

/** The registry entry named `name`; throws, listing the known names, when there is none. */
export function registryEntry(name: string): RegistryEntry {
  const e = REGISTRY.find((r) => r.name === name);
  if (!e) throw new Error(`unknown model "${name}"; known: ${REGISTRY.map((r) => r.name).join(', ')}`);
  return e;
}

/** The names of every registered model that can serve as a backbone. */
export function backboneNames(): string[] {
  return REGISTRY.filter((r) => r.backbone).map((r) => r.name);
}
