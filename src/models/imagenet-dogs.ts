/** ImageNet-1k facts the dog rule needs, with no host dependency (shared with the browser bundle). */

/** ImageNet-1k indices of dog breeds (Chihuahua … Mexican hairless), the seed's dog range. */
export const IMAGENET_DOG_RANGE = { first: 151, last: 268 } as const;

/** Dingo, dhole and African hunting dog: wild dogs just past the breed range, which the dog rule may count too (`wildDogs`). */
export const IMAGENET_WILD_DOGS = [273, 274, 275] as const;

export function isImagenetDog(index: number): boolean {
  return index >= IMAGENET_DOG_RANGE.first && index <= IMAGENET_DOG_RANGE.last;
}
