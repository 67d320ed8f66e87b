/**
 * What a caller asks to resolve in a model: an alias (or stage name, which falls back to the
 * highest version in that stage), a version number, or `latest`. Every protocol reads its own
 * spelling into this (`/v1`: `production`, `v3`, `latest`, `registry://m/3`; a bridge: a tag,
 * a revision) and the resolve service takes it. A commit (a Hugging Face revision naming a
 * version by its digest) is one more kind, looked up to a version.
 */
import { AliasName } from "./alias";

export type Reference =
  | { kind: "alias"; alias: string }
  | { kind: "version"; version: number }
  | { kind: "latest" }
  /** A ready version by its commit id (`commitOf` its digest), as a Hugging Face revision names it. */
  | { kind: "commit"; commit: string };

/** A version's commit id: the first 40 hex digits of its digest (`sha256:<hex>`), as git's ids are 40 hex. */
export function commitOf(digest: string): string {
  return digest.slice("sha256:".length, "sha256:".length + 40);
}

export const COMMIT = /^[0-9a-f]{40}$/;

/** The name ModelState resolves and the caches key by: the alias, `v<n>`, or `latest` (a commit is first looked up to its version). */
export function referenceName(ref: Exclude<Reference, { kind: "commit" }>): string {
  switch (ref.kind) {
    case "alias":
      return ref.alias;
    case "version":
      return `v${ref.version}`;
    case "latest":
      return "latest";
  }
}

/** The reference an alias-shaped name (already checked and folded) stands for: `latest`, `v<n>`, else an alias. */
export function referenceTo(name: string): Reference {
  if (name === "latest") return { kind: "latest" };
  const version = /^v([1-9][0-9]{0,8})$/.exec(name);
  return version ? { kind: "version", version: Number(version[1]) } : { kind: "alias", alias: name };
}

/** Reads an alias-shaped name (folded to lower case) as a reference; null when it is not one. */
export function parseReference(text: string): Reference | null {
  const name = AliasName.safeParse(text);
  return name.success ? referenceTo(name.data) : null;
}
