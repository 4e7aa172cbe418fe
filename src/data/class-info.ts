/** A class of a data set or a model: its name, and its WordNet id when it has one. */
export interface ClassInfo {
  name: string;
  /** WordNet id when the class comes from ImageNet-style folders (lets eval match folders by id). */
  wnid?: string;
}
