/** What one finished training epoch measured (a row of metrics.csv / metrics.jsonl). */
export interface EpochMetrics {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  /** Wall time of the epoch (training + validation), seconds. */
  seconds?: number;
}

/** Keras' per-epoch line: `Epoch 7/30  loss 0.3121  acc 0.9038  val_loss 0.2514  val_acc 0.9318  0.4s  * best`. */
export function epochLine(m: EpochMetrics, epochs: number, best: boolean): string {
  const w = String(epochs).length;
  return (
    `Epoch ${String(m.epoch).padStart(w)}/${epochs}  loss ${m.loss.toFixed(4)}  acc ${m.acc.toFixed(4)}  ` +
    `val_loss ${m.valLoss.toFixed(4)}  val_acc ${m.valAcc.toFixed(4)}  ${(m.seconds ?? 0).toFixed(1)}s${best ? '  * best' : ''}`
  );
}
