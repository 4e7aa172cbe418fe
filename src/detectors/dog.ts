/** The old name of `imagenet-dog-rule.ts` (the dog rule on ImageNet probabilities), kept for compatibility. */
export * from './imagenet-dog-rule.js';
