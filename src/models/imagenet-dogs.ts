/** ImageNet-1k facts the dog rule needs, with no host dependency (shared with the browser bundle). */

/** ImageNet-1k indices of dog breeds (Chihuahua … Mexican hairless), the seed's dog range. */
export const IMAGENET_DOG_RANGE = { first: 151, last: 268 } as const;

export function isImagenetDog(index: number): boolean {
  return index >= IMAGENET_DOG_RANGE.first && index <= IMAGENET_DOG_RANGE.last;
}
