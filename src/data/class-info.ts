/** A class of a data set or a model: its name, and its WordNet id when it has one. */
export interface ClassInfo {
  name: string;
  /** WordNet id when the class comes from ImageNet-style folders (lets eval match folders by id). */
  wnid?: string;
}

/** A ratio from which `explore` calls a set imbalanced and `train` suggests class weights. */
export const IMBALANCE_WARN_RATIO = 1.5;
