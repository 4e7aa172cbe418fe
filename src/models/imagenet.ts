/** The ImageNet class table (data/imagenet.ts) and the dog range, for the models that read them. */
export { loadImagenetClasses, type ImagenetClass } from '../data/imagenet.js';
export { IMAGENET_DOG_RANGE, IMAGENET_WILD_DOGS, isImagenetDog } from './imagenet-dogs.js';
