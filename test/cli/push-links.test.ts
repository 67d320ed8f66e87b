/**
 * Issue 27, item 10: what `mreg push <folder>` does with symbolic links.
 * - A link whose real target (every link of a chain followed) stays inside the folder is
 *   followed; the target's own path is checked against the ignore rules too, so a link to a
 *   secret inside the folder is skipped like the secret.
 * - A link that leaves the folder, dangles or loops is skipped and reported; a linked folder
 *   that leads back to a folder above it is not walked again.
 * - A file swapped (for a link, another file, a FIFO) between the walk and the read is refused,
 *   never read.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectFiles, fileSource, sha256File } from "../../src/cli/files";
import { mreg, sandbox, token } from "./helpers";

const { env, dir } = sandbox();
const M = "cli-push-links";
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

beforeAll(() => {
  env.MREG_TOKEN = token(env, "links", "read write");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** A model folder next to a home directory holding a key, with every kind of link in it. */
function linkedFolder(base: string): { model: string; key: string } {
  const model = join(base, "model");
  const key = "-----BEGIN OPENSSH PRIVATE KEY----- the operator's own";
  write(join(base, "home", ".ssh", "id_rsa"), key);
  write(join(base, "home", "notes.txt"), "outside");
  write(join(model, "model.bin"), "weights");
  write(join(model, "sub", "real.json"), '{"a": 1}');
  write(join(model, ".ssh", "id_rsa"), "a key kept inside the folder");
  symlinkSync("../home/.ssh/id_rsa", join(model, "weights.bin")); // the case: leaves the folder
  symlinkSync(join(base, "home", "notes.txt"), join(model, "abs.txt")); // absolute, outside
  symlinkSync("sub/real.json", join(model, "config.json")); // inside: followed
  symlinkSync("chain2", join(model, "chain1")); // a chain that ends inside: followed
  symlinkSync("sub/real.json", join(model, "chain2"));
  symlinkSync("sub/../../home/notes.txt", join(model, "sneaky.txt")); // starts inside, ends outside
  symlinkSync(".ssh/id_rsa", join(model, "key.bin")); // inside, but to a secret: skipped by the target's path
  symlinkSync("missing.bin", join(model, "dangling.bin"));
  symlinkSync("selfloop", join(model, "selfloop"));
  symlinkSync("sub", join(model, "linked")); // a linked folder inside: followed
  symlinkSync(".", join(model, "loop")); // a linked folder holding itself
  symlinkSync("..", join(model, "sub", "up")); // back to the top, from below
  symlinkSync("../home", join(model, "outdir")); // a linked folder outside
  return { model, key };
}

describe("push: symbolic links in a folder (issue 27, item 10)", () => {
  it("follows links that stay inside, skips and reports those that leave, dangle or loop, and never uploads what they point to", () => {
    const base = join(dir, "case");
    const { model, key } = linkedFolder(base);
    const r = mreg(env, ["push", M, model, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      files: { path: string; sha256: string }[];
      skipped: { path: string; rule: string }[];
    };
    expect(out.files.map((f) => f.path).sort()).toEqual([
      "chain1",
      "chain2",
      "config.json",
      "linked/real.json",
      "model.bin",
      "sub/real.json",
    ]);
    expect(out.files.find((f) => f.path === "config.json")?.sha256).toBe(sha('{"a": 1}'));
    expect(out.files.map((f) => f.sha256)).not.toContain(sha(key));
    expect(out.files.map((f) => f.sha256)).not.toContain(sha("outside"));
    const skipped = Object.fromEntries(out.skipped.map((s) => [s.path, s.rule]));
    const home = realpathSync(join(base, "home"));
    expect(skipped).toEqual({
      ".ssh/": "default: .ssh/",
      "weights.bin": `a link out of the folder, to ${join(home, ".ssh", "id_rsa")}`,
      "abs.txt": `a link out of the folder, to ${join(home, "notes.txt")}`,
      "sneaky.txt": `a link out of the folder, to ${join(home, "notes.txt")}`,
      "outdir/": `a link out of the folder, to ${home}`,
      "key.bin": "a link to .ssh/id_rsa: default: .ssh/",
      "dangling.bin": "a link to missing.bin, which does not exist",
      selfloop: "a link that loops (selfloop)",
      "loop/": "a link to ./, a folder that holds it (a loop)",
      "sub/up/": "a link to ./, a folder that holds it (a loop)",
      "linked/up/": "a link to ./, a folder that holds it (a loop)",
    });
    // The human output says it too, one line each.
    expect(r.stderr).toMatch(/skipped 11 paths/);
    expect(r.stderr).toContain(`  weights.bin  (a link out of the folder, to ${join(home, ".ssh", "id_rsa")})`);
  });

  it("collects only files inside the folder, whatever links a folder holds (property)", async () => {
    const names = ["a", "b", "c", "d"];
    const node = fc.oneof(
      fc.record({ kind: fc.constant("file" as const), at: fc.subarray(names, { minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant("dir" as const), at: fc.subarray(names, { minLength: 1, maxLength: 3 }) }),
      fc.record({
        kind: fc.constant("link" as const),
        at: fc.subarray(names, { minLength: 1, maxLength: 3 }),
        // A relative target: up to three `..`, then up to three names (or `.`, or the outside tree).
        up: fc.nat({ max: 3 }),
        to: fc.array(fc.constantFrom(...names, ".", "out"), { maxLength: 3 }),
        absolute: fc.boolean(),
      }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(node, { minLength: 1, maxLength: 14 }), async (nodes) => {
        const base = mkdtempSync(join(dir, `prop-${n++}-`));
        const root = join(base, "root");
        mkdirSync(root);
        write(join(base, "out", "secret"), "outside");
        const links: string[] = [];
        for (const x of nodes) {
          const path = join(root, ...x.at);
          // Nothing is made through a link (it could land outside, or under another name).
          const isLink = (p: string) => {
            try {
              return lstatSync(p).isSymbolicLink();
            } catch {
              return false;
            }
          };
          if (x.at.slice(0, -1).some((_, i) => isLink(join(root, ...x.at.slice(0, i + 1))))) continue;
          try {
            mkdirSync(dirname(path), { recursive: true });
            if (x.kind === "file") writeFileSync(path, x.at.join("/"), { flag: "wx" });
            else if (x.kind === "dir") mkdirSync(path);
            else {
              const target = [...Array<string>(x.up).fill(".."), ...x.to].join("/") || ".";
              symlinkSync(x.absolute ? join(dirname(path), target) : target, path);
              links.push(relative(root, path).split(sep).join("/"));
            }
          } catch {
            // A name already taken (or a parent that is a file or a link): that node is left out.
          }
        }
        let collected;
        try {
          collected = await collectFiles([root]);
        } catch (err) {
          expect((err as Error).message).toMatch(/^Nothing to push/);
          return;
        }
        const real = realpathSync(root);
        const listed = new Set([
          ...collected.files.map((f) => f.path),
          ...collected.skipped.map((s) => s.path.replace(/\/$/, "")),
        ]);
        for (const f of collected.files) {
          // Read from where it was found, the same bytes as through its path in the folder.
          expect(realpathSync(f.local).startsWith(real + sep), f.local).toBe(true);
          expect(readFileSync(f.local, "utf8")).toBe(readFileSync(join(root, f.path), "utf8"));
          expect(readFileSync(f.local, "utf8")).not.toBe("outside");
        }
        // Every link of the real tree is either followed (its path, or files below it, went in) or reported.
        for (const link of links) {
          const shown = listed.has(link) || [...listed].some((p) => p.startsWith(link + "/"));
          let inside = false;
          try {
            const target = realpathSync(join(root, link));
            inside = target === real || target.startsWith(real + sep);
          } catch {
            // dangling or looping: must be reported
          }
          if (!inside)
            expect(
              collected.skipped.map((s) => s.path.replace(/\/$/, "")),
              link,
            ).toContain(link);
          else if (!shown) {
            // A link inside to an empty folder holds nothing to list; anything else shows up.
            expect(
              spawnSync("find", ["-L", join(root, link), "-type", "f"], { encoding: "utf8" }).stdout.trim(),
              link,
            ).toBe("");
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a file swapped for a link, another file or a FIFO between the walk and the read", async () => {
    const base = join(dir, "swap");
    write(join(base, "home", "id_rsa"), "the key");
    write(join(base, "model", "a.bin"), "aaaa");
    write(join(base, "model", "b.bin"), "bbbb");
    write(join(base, "model", "c.bin"), "cccc");
    const { files } = await collectFiles([join(base, "model")]);
    const [a, b, c] = files as [(typeof files)[number], (typeof files)[number], (typeof files)[number]];
    // Untouched: read as walked.
    expect(await sha256File(a.local, undefined, undefined, a.stats)).toBe(sha("aaaa"));
    const read = async (stream: ReturnType<ReturnType<typeof fileSource>["slice"]>) =>
      Buffer.from(await new Response(stream as ReadableStream).arrayBuffer()).toString();
    expect(await read(fileSource(a.local, a.size, a.stats).slice(1, 3))).toBe("aa");

    unlinkSync(a.local);
    symlinkSync(join(base, "home", "id_rsa"), a.local);
    await expect(sha256File(a.local, undefined, undefined, a.stats)).rejects.toThrow(
      /changed since the files were listed/,
    );
    await expect(read(fileSource(a.local, a.size, a.stats).slice(0, 4))).rejects.toThrow(
      /changed since the files were listed/,
    );

    unlinkSync(b.local);
    writeFileSync(b.local, "the key"); // another file (another inode) under the same name
    await expect(sha256File(b.local, undefined, undefined, b.stats)).rejects.toThrow(
      /changed since the files were listed/,
    );

    unlinkSync(c.local);
    expect(spawnSync("mkfifo", [c.local]).status).toBe(0); // opening a FIFO to read would wait for a writer forever
    await expect(sha256File(c.local, undefined, undefined, c.stats)).rejects.toThrow(
      /changed since the files were listed/,
    );
  });
});

describe("push: the folder argument itself", () => {
  it("reads a folder given through a link as the folder it names", () => {
    const base = mkdtempSync(join(tmpdir(), "mreg-links-arg-"));
    try {
      write(join(base, "real", "w.bin"), "w");
      symlinkSync(join(base, "real"), join(base, "via"));
      const r = mreg(env, ["push", M, join(base, "via"), "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).files.map((f: { path: string }) => f.path)).toEqual(["w.bin"]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
