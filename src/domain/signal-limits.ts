/**
 * API.md "Guards": what one production signal may carry. Apart from ./guard.ts, which needs
 * zod, so that the CLI's agent checks what a model server posts against the same limits
 * without bundling zod.
 */

/** Metric values are finite with magnitude at most this. */
export const MAX_SIGNAL_MAGNITUDE = 1e12;
/** A signal stands for at most this many samples. */
export const MAX_SIGNAL_COUNT = 100_000;
/** Metrics in one signal. */
export const MAX_SIGNAL_METRICS = 256;
/** Characters of a metric's name. */
export const MAX_METRIC_NAME = 128;
