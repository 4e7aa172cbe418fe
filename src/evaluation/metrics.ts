/**
 * Classification metrics from true labels and predicted probabilities, as scikit-learn defines
 * them: accuracy, top-k accuracy, per-class precision / recall / F1 / support, macro and
 * support-weighted averages, and the confusion matrix (rows true, columns predicted).
 */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Classification metrics: accuracy, top-k, per-class precision/recall/F1, averages, log loss and the confusion matrix. */
export interface Evaluation {
  n: number;
  accuracy: number;
  topK: Record<string, number>;
  perClass: Record<string, ClassMetrics>;
  macro: Omit<ClassMetrics, 'support'>;
  weighted: Omit<ClassMetrics, 'support'>;
  confusion: number[][];
  classes: string[];
  /** Log loss (mean categorical cross-entropy) of the true class. */
  logLoss: number;
}

export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

/** Counts of true class (rows) against predicted class (columns). */
export function confusionMatrix(yTrue: number[], yPred: number[], nClasses: number): number[][] {
  const m = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  yTrue.forEach((t, i) => m[t]![yPred[i]!]!++);
  return m;
}

/** Metrics of predicted probabilities against true labels (top-k for each `ks`). */
export function evaluate(yTrue: number[], probs: ArrayLike<number>[], classes: string[], ks: number[] = [1, 3, 5]): Evaluation {
  const n = yTrue.length;
  const k = classes.length;
  const yPred = probs.map(argmax);
  const confusion = confusionMatrix(yTrue, yPred, k);
  const perClass: Record<string, ClassMetrics> = {};
  const rows: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c]![c]!;
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    // scikit-learn's zero_division=0: an empty denominator scores 0
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    rows.push((perClass[classes[c]!] = { precision, recall, f1, support }));
  }
  const present = rows.filter((r) => r.support > 0);
  const mean = (f: (r: ClassMetrics) => number) => present.reduce((a, r) => a + f(r), 0) / Math.max(1, present.length);
  const wmean = (f: (r: ClassMetrics) => number) => present.reduce((a, r) => a + f(r) * r.support, 0) / Math.max(1, n);
  const topK: Record<string, number> = {};
  for (const kk of ks.filter((x) => x <= k)) {
    topK[`top${kk}`] = yTrue.filter((t, i) => rankOf(probs[i]!, t) < kk).length / Math.max(1, n);
  }
  const logLoss = yTrue.reduce((a, t, i) => a - Math.log(Math.max(1e-7, probs[i]![t]!)), 0) / Math.max(1, n);
  return {
    n,
    accuracy: yPred.filter((p, i) => p === yTrue[i]).length / Math.max(1, n),
    topK,
    perClass,
    macro: { precision: mean((r) => r.precision), recall: mean((r) => r.recall), f1: mean((r) => r.f1) },
    weighted: { precision: wmean((r) => r.precision), recall: wmean((r) => r.recall), f1: wmean((r) => r.f1) },
    confusion,
    classes,
    logLoss,
  };
}

/** 0-based rank of class t in p (0 = the top prediction); ties count against t. */
function rankOf(p: ArrayLike<number>, t: number): number {
  let r = 0;
  for (let i = 0; i < p.length; i++) if (i !== t && p[i]! >= p[t]!) r++;
  return r;
}

/** The k examples the model got most wrong: highest loss on the true class. */
export function topLosses(yTrue: number[], probs: ArrayLike<number>[], files: string[], classes: string[], k = 10) {
  return yTrue
    .map((t, i) => ({
      file: files[i]!,
      actual: classes[t]!,
      predicted: classes[argmax(probs[i]!)]!,
      probabilityOfActual: probs[i]![t]!,
      probabilityOfPredicted: probs[i]![argmax(probs[i]!)]!,
      loss: -Math.log(Math.max(1e-7, probs[i]![t]!)),
    }))
    .filter((x) => x.actual !== x.predicted)
    .sort((a, b) => b.loss - a.loss)
    .slice(0, k);
}
