/**
 * The Hugging Face Hub's read protocol, as mreg answers it (docs/reference.md "Hugging Face Hub
 * (read)"): repo ids, revisions, and how a version's files look to a Hub client — every file an
 * LFS file (its `lfs.oid` the sha256), its git `oid` the SHA-1 of its LFS pointer, and a
 * directory's `oid` a SHA-1 of its entries. Pure (Web Crypto for the hashes).
 */
import type { ManifestEntry } from "./manifest";
import { ModelName } from "./names";
import { COMMIT, parseReference, type Reference } from "./reference";

/** The model a repo id names: `<model>` or `<namespace>/<model>`; null for any other namespace or a name that is not a model's. */
export function repoModel(segments: readonly string[], namespace: string): string | null {
  if (segments.length === 2 && segments[0] !== namespace) return null;
  if (segments.length !== 1 && segments.length !== 2) return null;
  const name = ModelName.safeParse(segments[segments.length - 1]);
  return name.success ? name.data : null;
}

/**
 * What a revision names: `main` and `HEAD` the default alias; 40 hex digits a version's
 * commit; else an alias, `v<n>` or `latest`. Null when it is none of them (RevisionNotFound).
 */
export function revisionReference(revision: string, defaultAlias: string): Reference | null {
  if (revision === "main" || revision === "HEAD") return parseReference(defaultAlias);
  const lower = revision.toLowerCase();
  if (COMMIT.test(lower)) return { kind: "commit", commit: lower };
  return parseReference(revision);
}

const utf8 = new TextEncoder();

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The text git-lfs keeps in place of a file (the pointer), whose size Hub clients call `pointerSize`. */
export function lfsPointer(file: { size: number; sha256: string }): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${file.sha256}\nsize ${file.size}\n`;
}

/** git's blob id of `text`: SHA-1 of `blob <bytes>\0<text>`. */
export async function gitBlobId(text: string): Promise<string> {
  const body = utf8.encode(text);
  const header = utf8.encode(`blob ${body.byteLength}\0`);
  const all = new Uint8Array(header.byteLength + body.byteLength);
  all.set(header);
  all.set(body, header.byteLength);
  return hex(await crypto.subtle.digest("SHA-1", all));
}

export interface LfsInfo {
  oid: string;
  size: number;
  pointerSize: number;
}

export type TreeEntry =
  | { type: "file"; path: string; size: number; oid: string; lfs: LfsInfo }
  | { type: "directory"; path: string; size: 0; oid: string };

/** A file as a Hub client sees it. */
export async function fileEntry(file: ManifestEntry): Promise<Extract<TreeEntry, { type: "file" }>> {
  const pointer = lfsPointer(file);
  return {
    type: "file",
    path: file.path,
    size: file.size,
    oid: await gitBlobId(pointer),
    lfs: { oid: file.sha256, size: file.size, pointerSize: utf8.encode(pointer).byteLength },
  };
}

/**
 * A version's files as a Hub tree: every file, and every directory above one, each with its
 * oid; a directory's is the SHA-1 of its entries' `<type> <name> <oid>` lines in name order,
 * so it is stable and changes exactly when something below it does. Sorted by path.
 */
export async function treeOf(files: readonly ManifestEntry[]): Promise<TreeEntry[]> {
  const entries = new Map<string, TreeEntry>();
  const children = new Map<string, Set<string>>();
  const addChild = (dir: string, path: string) =>
    (children.get(dir) ?? children.set(dir, new Set()).get(dir)!).add(path);
  for (const file of files) {
    entries.set(file.path, await fileEntry(file));
    // Walk up from the file, registering each directory once (its own parents are registered with it).
    let child = file.path;
    for (let slash = child.lastIndexOf("/"); slash > 0; slash = child.lastIndexOf("/")) {
      const dir = child.slice(0, slash);
      addChild(dir, child);
      const known = entries.has(dir);
      if (!known) entries.set(dir, { type: "directory", path: dir, size: 0, oid: "" });
      child = dir;
      if (known) break;
    }
    if (!child.includes("/")) addChild("", child);
  }
  // Deepest directories first, so each one's children already have their oids.
  const depth = (path: string) => path.split("/").length;
  const dirs = [...entries.values()]
    .filter((e) => e.type === "directory")
    .sort((a, b) => depth(b.path) - depth(a.path));
  for (const dir of dirs) {
    const lines = [...(children.get(dir.path) ?? [])]
      .sort()
      .map((path) => entries.get(path)!)
      .map((e) => `${e.type} ${e.path.slice(dir.path.length + 1)} ${e.oid}\n`)
      .join("");
    dir.oid = hex(await crypto.subtle.digest("SHA-1", utf8.encode(lines)));
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The entries of the tree listing under `path` ('' for the root): its direct children, or,
 * `recursive`, everything below it. Null when `path` is not a directory of the tree.
 */
export function listing(tree: readonly TreeEntry[], path: string, recursive: boolean): TreeEntry[] | null {
  if (path !== "" && tree.find((e) => e.path === path)?.type !== "directory") return null;
  const prefix = path === "" ? "" : `${path}/`;
  return tree.filter((e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes("/")));
}

/** What `/api/models/<rest>` asks for: the repo id's segments, the verb, and what follows it. */
export interface ApiPath {
  repo: string[];
  verb: "info" | (typeof API_VERBS)[number];
  tail: string[];
}

/** What may follow a repo id under `/api/models/`: the read verbs, and the write side's. */
const API_VERBS = [
  "revision",
  "tree",
  "paths-info",
  "preupload",
  "commit",
  "commits",
  "branch",
  "tag",
  "refs",
] as const;
const VERBS = new Set<string>(API_VERBS);

/**
 * Splits `/api/models/<rest>`: the repo id is `<namespace>/<model>` when it starts with the
 * namespace and a verb (or nothing) follows the second segment, else `<model>`. Null for a
 * path that is neither (another namespace, an unknown verb).
 */
export function apiPath(rest: string, namespace: string): ApiPath | null {
  const segments = rest.split("/");
  const two = segments.length >= 2 && segments[0] === namespace && (segments.length === 2 || VERBS.has(segments[2]!));
  const repo = segments.slice(0, two ? 2 : 1);
  const after = segments.slice(repo.length);
  if (after.length === 0) return { repo, verb: "info", tail: [] };
  const verb = after[0]!;
  if (!VERBS.has(verb)) return null;
  return { repo, verb: verb as ApiPath["verb"], tail: after.slice(1) };
}
