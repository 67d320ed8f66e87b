/**
 * docs/fleet.md "Reports": what one node report may carry. Apart from ./fleet.ts, which needs
 * zod, so that `mreg agent` shapes its reports to the same limits without bundling zod.
 */

/** Labels a report may carry at most. */
export const MAX_LABELS = 16;
/** A label's key: Kubernetes' label-name characters, 1 to 63, starting and ending alphanumeric. */
export const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
export const MAX_LABEL_VALUE = 256;
/** Characters of a report's reason. */
export const MAX_REASON = 1024;
/** Characters of a report's `agent`. */
export const MAX_AGENT = 128;
