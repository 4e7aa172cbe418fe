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
