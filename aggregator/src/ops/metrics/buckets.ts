/** Histogram buckets shared by the series of several kinds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const BATCH_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 50_000];
