/**
 * The contract's naming rules (API.md "Names"), checked by the CLI before it does anything
 * slow (hashing 300 MB, creating a version), and said in plain words. The server's own
 * checks are zod schemas in src/domain (names.ts, alias.ts); the CLI bundle carries no zod,
 * so those rules are restated here, and test/cli/units.test.ts holds the two to the same
 * verdicts. File paths share the server's zod-free rule (src/domain/file-path-rule.ts).
 */

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const ALIAS = /^[a-z][a-z0-9_-]{0,63}$/;
const RESERVED_ALIAS = /^(latest|v[0-9]+)$/;

/** Why `name` cannot be a model name, or null. */
export function modelNameProblem(name: string): string | null {
  if (MODEL_NAME.test(name) && !name.includes("..")) return null;
  const what = `model name '${name}'`;
  if (name === "") return "the model name is empty";
  if (name.length > 128) return `${what} is ${name.length} characters long; at most 128`;
  if (/[A-Z]/.test(name))
    return `${what} has upper case letters; names are lower case (a-z, 0-9, '.', '_', '-'), e.g. '${name.toLowerCase().replace(/[^a-z0-9._-]/g, "-")}'`;
  if (!/^[a-z0-9]/.test(name)) return `${what} must start with a lower-case letter or a digit`;
  if (name.includes("..")) return `${what} must not contain '..'`;
  const bad = [...new Set(name.replace(/[a-z0-9._-]/g, ""))].map((c) => `'${c}'`).join(" ");
  return `${what} holds characters names cannot (${bad}); use a-z, 0-9, '.', '_' and '-'`;
}

/**
 * Why `alias` cannot be set as an alias (`settable`), or named at all, or null. Aliases
 * are case-insensitive: the registry folds them to lower case, so this checks the folded form.
 */
export function aliasProblem(alias: string, settable = true): string | null {
  const folded = alias.toLowerCase();
  const what = `alias '${alias}'`;
  if (!ALIAS.test(folded)) {
    if (folded === "") return "the alias is empty";
    if (folded.length > 64) return `${what} is ${folded.length} characters long; at most 64`;
    if (!/^[a-z]/.test(folded)) return `${what} must start with a letter`;
    return `${what} may hold only letters, digits, '_' and '-'`;
  }
  if (settable && RESERVED_ALIAS.test(folded))
    return `${what} is reserved: 'latest' and 'v<number>' always name the newest and the numbered version`;
  return null;
}

export { filePathProblem } from "../domain/file-path-rule";
