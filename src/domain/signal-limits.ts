/**
 * docs/reference.md "Gates, approvals and guards": what one production signal may carry. Apart
 * from ./guard.ts, which needs zod, so that the CLI's agent checks what a model server posts
 * against the same limits without bundling zod.
 */

/** Metric values are finite with magnitude at most this. */
export const MAX_SIGNAL_MAGNITUDE = 1e12;
/** A signal stands for at most this many samples. */
export const MAX_SIGNAL_COUNT = 100_000;
/** Metrics in one signal. */
export const MAX_SIGNAL_METRICS = 256;
/** Characters of a metric's name. */
export const MAX_METRIC_NAME = 128;
/** Characters of a node's name (as a routing key's). */
export const MAX_NODE_NAME = 256;
/**
 * A guard's `min_nodes` at most. The rule is there so that one node, or a handful, cannot
 * move a fleet; a hundred is more than that needs, and a window keeps at most this many
 * names per bucket and served version.
 */
export const MAX_MIN_NODES = 100;
