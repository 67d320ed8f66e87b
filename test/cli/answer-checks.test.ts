/**
 * The checks a serving node makes of what it is sent, without a server: the client's answer
 * validation (src/client/validate.ts), its download and JSON-size guards (through a fetch
 * that answers what the test says), and the CLI's own rules for local names
 * (src/cli/local-paths.ts, the agent's Layout). Property tests where a rule has many inputs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { MregClient } from "../../src/client/client";
import { MregError } from "../../src/client/errors";
import {
  MAX_FILE_SIZE,
  MAX_JSON_ANSWER,
  MAX_VERSION,
  validFileList,
  validResolution,
  validVersion,
  validWatchEvent,
} from "../../src/client/validate";
import { Layout } from "../../src/cli/agent/layout";
import { CliError } from "../../src/cli/exit";
import { destination, insideDir, pullFolderName, unwritable } from "../../src/cli/local-paths";
import { collidingPaths, filePathProblem } from "../../src/domain/file-path-rule";

const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
const segment = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._ -]{0,11}$/).filter((s) => s !== "." && s !== "..");
const goodPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));
const goodFile = fc.record({ path: goodPath, size: fc.integer({ min: 0, max: MAX_FILE_SIZE }), sha256: hex });
const goodFiles = fc.uniqueArray(goodFile, { selector: (f) => f.path, maxLength: 6 });
const goodVersion = fc.integer({ min: 1, max: MAX_VERSION });

const resolution = (version: number, files: unknown = [], extra: Record<string, unknown> = {}) => ({
  model: "fraud",
  alias: "prod",
  version,
  generation: 7,
  digest: `sha256:${"ab".repeat(32)}`,
  files,
  uri: `registry://fraud/${version}`,
  split: null,
  ...extra,
});
const asked = { model: "fraud", alias: "prod" };

/** Runs `f`; answers the MregError code it threw, or "ok". */
function outcome(f: () => unknown): string {
  try {
    f();
    return "ok";
  } catch (err) {
    if (err instanceof MregError) return err.code;
    throw err;
  }
}
const judge = (value: unknown) => outcome(() => validResolution(value, asked, "resolve fraud@prod"));

describe("a Resolution's signatures as the client accepts them", () => {
  const signer = fc.oneof(
    fc.record({ kind: fc.constant("key"), fingerprint: hex.map((h) => `sha256:${h}`) }),
    fc.record({
      kind: fc.constant("sigstore"),
      fingerprint: fc.constant(null),
      subject: fc.string(),
      issuer: fc.string(),
    }),
  );
  const ref = fc.record({
    id: fc.stringMatching(/^sig_[0-9A-Z]{26}$/),
    signer,
    trusted_by: fc.array(fc.stringMatching(/^sk_[0-9A-Z]{26}$/), { maxLength: 3 }),
  });

  it("takes well-formed lists, and reads a registry's answer without any as none", () => {
    fc.assert(
      fc.property(fc.array(ref, { maxLength: 4 }), (signatures) => {
        expect(judge(resolution(1, [], { signatures }))).toBe("ok");
      }),
    );
    const old = resolution(1);
    expect(validResolution(old, asked, "resolve").signatures).toEqual([]);
  });

  it("refuses what a node could not act on: no list, no id, an unknown kind, key ids that are no strings", () => {
    const good = { id: "sig_01J00000000000000000000000", signer: { kind: "key", fingerprint: null }, trusted_by: [] };
    for (const signatures of [
      {},
      "sig",
      [{ ...good, id: "" }],
      [{ ...good, id: 7 }],
      [{ ...good, signer: { kind: "pgp" } }],
      [{ ...good, signer: null }],
      [{ ...good, trusted_by: [1] }],
      [{ ...good, trusted_by: "sk_1" }],
    ]) {
      expect(judge(resolution(1, [], { signatures })), JSON.stringify(signatures)).toBe("invalid_response");
    }
  });

  it("must be null in a watch message whose alias resolves to nothing", () => {
    const gone = {
      event: "delete",
      model: "fraud",
      alias: "prod",
      version: null,
      generation: 9,
      digest: null,
      files: null,
      uri: null,
      split: null,
    };
    const watched = { model: "fraud", alias: "prod" };
    expect(outcome(() => validWatchEvent({ ...gone, signatures: null }, watched, "watch"))).toBe("ok");
    expect(outcome(() => validWatchEvent(gone, watched, "watch"))).toBe("ok");
    expect(outcome(() => validWatchEvent({ ...gone, signatures: [] }, watched, "watch"))).toBe("invalid_response");
  });
});

describe("a Resolution as the client accepts it", () => {
  it("takes every well-formed one as it is, extra members included", () => {
    fc.assert(
      fc.property(goodVersion, goodFiles, (v, files) => {
        const r = resolution(v, files, { lineage: { nodes: [] } });
        expect(validResolution(r, asked, "resolve")).toBe(r);
      }),
    );
  });

  it("refuses any version that is not an integer from 1 to 999,999,999", () => {
    const notAVersion = fc.oneof(
      fc.anything().filter((v) => typeof v !== "number"),
      fc.integer({ max: 0 }),
      fc.integer({ min: MAX_VERSION + 1 }),
      fc.double().filter((d) => !Number.isInteger(d) || d < 1 || d > MAX_VERSION),
      fc.constantFrom("1", "1/../../x", 2 ** 53 + 2, 1e21, Number.NaN, Infinity),
    );
    fc.assert(
      fc.property(notAVersion, (v) => {
        expect(judge({ ...resolution(1), version: v })).toBe("invalid_response");
      }),
    );
  });

  it("takes a file path exactly when the registry's path rule does", () => {
    const anyPath = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc
        .array(fc.constantFrom("a", "..", ".", "", "/", "\\", "b\u0000", "C:"), { maxLength: 5 })
        .map((p) => p.join("/")),
    );
    fc.assert(
      fc.property(anyPath, (path) => {
        const verdict = judge(resolution(1, [{ path, size: 1, sha256: "0".repeat(64) }]));
        expect(verdict).toBe(filePathProblem(path) === null ? "ok" : "invalid_response");
      }),
    );
  });

  it("refuses sizes and sha256s that are not well formed, and a path twice", () => {
    const badSize = fc.oneof(
      fc.integer({ max: -1 }),
      fc.nat().map((n) => MAX_FILE_SIZE + 1 + n),
      fc.double().filter((d) => !Number.isInteger(d)),
      fc.string(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(badSize, (size) => {
        expect(judge(resolution(1, [{ path: "a", size, sha256: "0".repeat(64) }]))).toBe("invalid_response");
      }),
    );
    const badSha = fc.oneof(
      fc.string().filter((s) => !/^[0-9a-f]{64}$/.test(s)),
      hex.map((h) => h.toUpperCase()).filter((h) => /[A-F]/.test(h)),
      fc.integer(),
    );
    fc.assert(
      fc.property(badSha, (sha256) => {
        expect(judge(resolution(1, [{ path: "a", size: 1, sha256 }]))).toBe("invalid_response");
      }),
    );
    const f = { path: "a/b", size: 1, sha256: "0".repeat(64) };
    expect(judge(resolution(1, [f, f]))).toBe("invalid_response");
  });

  it("must be about what was asked: model, alias (folded), version, uri, split member", () => {
    expect(judge({ ...resolution(1), model: "other" })).toBe("invalid_response");
    expect(judge({ ...resolution(1), alias: "staging" })).toBe("invalid_response");
    expect(outcome(() => validResolution(resolution(1), { model: "fraud", alias: "PROD" }, "r"))).toBe("ok");
    expect(outcome(() => validResolution(resolution(3), { model: "fraud", version: 3 }, "r"))).toBe("ok");
    expect(outcome(() => validResolution(resolution(4), { model: "fraud", version: 3 }, "r"))).toBe("invalid_response");
    expect(judge({ ...resolution(1), uri: "registry://fraud/2" })).toBe("invalid_response");
    expect(
      judge({
        ...resolution(1),
        split: [
          { version: 1, weight: 90 },
          { version: 2, weight: 10 },
        ],
      }),
    ).toBe("ok");
    expect(judge({ ...resolution(1), split: [{ version: 2, weight: 100 }] })).toBe("invalid_response");
    expect(judge({ ...resolution(1), digest: "sha256:xyz" })).toBe("invalid_response");
    expect(judge({ ...resolution(1), digest: null })).toBe("ok");
    for (const answer of [null, [], "x", 1]) expect(judge(answer)).toBe("invalid_response");
  });

  it("says which field and what it got", () => {
    try {
      validResolution({ ...resolution(1), version: "1/../../x" }, asked, "resolve fraud@prod");
      expect.unreachable();
    } catch (err) {
      expect((err as MregError).detail).toBe(
        'resolve fraud@prod: invalid answer from the registry: version: must be an integer from 1 to 999999999 (got "1/../../x")',
      );
    }
  });
});

describe("watch messages, Versions and file lists", () => {
  const watched = { model: "fraud", alias: "prod" };
  it("takes a message naming nothing only with null files and digest", () => {
    const gone = {
      event: "delete",
      model: "fraud",
      alias: "prod",
      version: null,
      generation: 9,
      digest: null,
      files: null,
      uri: null,
      split: null,
    };
    expect(outcome(() => validWatchEvent(gone, watched, "w"))).toBe("ok");
    expect(outcome(() => validWatchEvent({ ...gone, files: [] }, watched, "w"))).toBe("invalid_response");
    expect(outcome(() => validWatchEvent({ ...gone, model: "other" }, watched, "w"))).toBe("invalid_response");
    expect(outcome(() => validWatchEvent({ ...resolution(2), event: "set" }, watched, "w"))).toBe("ok");
    expect(outcome(() => validWatchEvent({ ...resolution(2), event: 1 }, watched, "w"))).toBe("invalid_response");
    expect(outcome(() => validWatchEvent({ ...resolution(2), event: "set", version: "2" }, watched, "w"))).toBe(
      "invalid_response",
    );
  });

  it("checks a Version's identity and files, and a file list's paths", () => {
    const v = {
      model: "fraud",
      version: 3,
      files: [{ path: "m.bin", size: 1, sha256: "0".repeat(64) }],
      digest: null,
      status: "ready",
    };
    expect(outcome(() => validVersion(v, { model: "fraud", version: 3 }, "v"))).toBe("ok");
    expect(outcome(() => validVersion(v, { model: "fraud", version: 4 }, "v"))).toBe("invalid_response");
    expect(
      outcome(() => validVersion({ ...v, files: [{ ...v.files[0], path: "../m.bin" }] }, { model: "fraud" }, "v")),
    ).toBe("invalid_response");
    expect(outcome(() => validFileList({ items: v.files }, "f"))).toBe("ok");
    expect(
      outcome(() => validFileList({ items: [{ path: "/etc/passwd", size: 1, sha256: "0".repeat(64) }] }, "f")),
    ).toBe("invalid_response");
  });
});

describe("answers through the client (a fetch that says what the test says)", () => {
  const client = (answer: (req: Request) => Response) =>
    new MregClient({
      url: "http://registry.test",
      retries: 0,
      fetch: async (input, init) => answer(new Request(input, init)),
    });
  const bytes = (n: number) => new Uint8Array(new ArrayBuffer(n)).fill(7);
  const read = async (body: ReadableStream<Uint8Array> | null) => {
    let n = 0;
    for await (const chunk of body!) n += chunk.byteLength;
    return n;
  };
  const codeOf = async (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (err: unknown) => (err instanceof MregError ? err.code : String(err)),
    );

  it("refuses a resolve answer about another model, and one about another version by URI", async () => {
    const c = client(() => Response.json(resolution(1, [], { model: "other", uri: "registry://other/1" })));
    expect(await codeOf(c.aliases.resolve("fraud", "prod"))).toBe("invalid_response");
    expect(await codeOf(c.aliases.poll("fraud", "prod"))).toBe("invalid_response");
    const v2 = client(() => Response.json(resolution(2)));
    expect(await codeOf(v2.resolve("registry://fraud/3"))).toBe("invalid_response");
    expect(await codeOf(v2.resolve("registry://fraud@prod"))).toBe("ok");
  });

  it("stops a JSON answer that never ends at 64 MiB", async () => {
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1024 * 1024;
        controller.enqueue(new TextEncoder().encode(" ".repeat(1024 * 1024)));
      },
    });
    const c = client(() => new Response(endless, { headers: { "content-type": "application/json" } }));
    expect(await codeOf(c.aliases.resolve("fraud", "prod"))).toBe("invalid_response");
    expect(sent).toBeLessThanOrEqual(MAX_JSON_ANSWER + 2 * 1024 * 1024);
  });

  it("holds a 206 to the range asked for, and its body to its length", async () => {
    const answer = (status: number, headers: Record<string, string>, body: Uint8Array<ArrayBuffer>) => () =>
      new Response(body, { status, headers });
    const ranged = (range: string, body: Uint8Array<ArrayBuffer>, extra: Record<string, string> = {}) =>
      client(answer(206, { "content-range": range, ...extra }, body));
    const dl = (c: MregClient, start = 0, end = 99) => c.files.download("fraud", 1, "m.bin", { range: { start, end } });

    const good = await dl(ranged("bytes 0-99/1000", bytes(100)));
    expect([good.size, good.length, good.range, await read(good.body)]).toEqual([
      1000,
      100,
      { start: 0, end: 99 },
      100,
    ]);
    // Shorter than asked at the file's end is what a server does; the caller compares the size.
    expect((await dl(ranged("bytes 0-49/50", bytes(50)))).range).toEqual({ start: 0, end: 49 });

    expect(await codeOf(dl(ranged("bytes 5-104/1000", bytes(100))))).toBe("invalid_response");
    expect(await codeOf(dl(ranged("bytes 0-199/1000", bytes(200))))).toBe("invalid_response");
    expect(await codeOf(dl(ranged("bytes 0-99/50", bytes(100))))).toBe("invalid_response");
    expect(await codeOf(dl(ranged("bytes 0-99/1000", bytes(100), { "content-length": "120" })))).toBe(
      "invalid_response",
    );
    expect(await codeOf(dl(ranged("bytes 0-99/1000", bytes(100), { "x-mreg-sha256": "../../x" })))).toBe(
      "invalid_response",
    );

    const more = await dl(ranged("bytes 0-99/1000", bytes(150)));
    expect(await codeOf(read(more.body))).toBe("invalid_response");
    const fewer = await dl(ranged("bytes 0-99/1000", bytes(60)));
    expect(await codeOf(read(fewer.body))).toBe("network_error");
  });
});

describe("local names", () => {
  const root = mkdtempSync(join(tmpdir(), "mreg-local-names-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, "dir");
  const anyPath = fc.oneof(
    fc.string(),
    fc
      .array(fc.constantFrom("a", "..", ".", "", "/", "\\", "..a", "a..", "/tmp"), { maxLength: 6 })
      .map((p) => p.join("/")),
  );

  it("puts a file inside its folder or refuses it, exactly as the path rule says", () => {
    fc.assert(
      fc.property(anyPath, (path) => {
        let dest: string | undefined;
        try {
          dest = destination(dir, path);
        } catch (err) {
          expect(err).toBeInstanceOf(CliError);
        }
        expect(dest !== undefined).toBe(filePathProblem(path) === null);
        if (dest !== undefined)
          expect(insideDir(dir, dest) && !relative(dir, dest).split(/[\\/]/).includes("..")).toBe(true);
      }),
    );
    expect(destination(dir, "..a/b..")).toBe(join(dir, "..a", "b.."));
  });

  it("names versions only by version numbers, always inside --dir", () => {
    const layout = new Layout(dir);
    fc.assert(
      fc.property(fc.oneof(goodVersion, fc.anything(), fc.double(), fc.integer()), (n) => {
        const names = () => [layout.versionDir(n as number), layout.incoming(n as number)];
        if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_VERSION) {
          for (const p of names()) {
            expect(insideDir(dir, p)).toBe(true);
            expect(basename(p)).toBe(`v${n}`);
          }
        } else expect(names).toThrow(CliError);
      }),
    );
    expect(() => layout.versionDir("1/../../../x" as unknown as number)).toThrow(/a version is an integer/);
    expect(layout.manifest(-1)).toBeNull();
  });

  it("refuses files that would be one on a disk that ignores case or normalisation, and mreg's own names", () => {
    const f = (path: string) => ({ path, size: 1, sha256: "0".repeat(64) });
    fc.assert(
      fc.property(goodPath, (p) => {
        expect(unwritable([f(p), f(p.toUpperCase())])).toMatch(/would be one file/);
        expect(unwritable([f(p)])).toBeNull();
      }),
    );
    expect(unwritable([f("caf\u00e9/x"), f("cafe\u0301/x")])).toMatch(/would be one file/);
    // A file and a path beneath it, in either order and whatever the case: `a` cannot be both.
    for (const [x, y] of [
      ["a", "a/b"],
      ["A/b/c", "a"],
      ["w/Caf\u00e9", "w/cafe\u0301/x.bin"],
    ]) {
      expect(collidingPaths([x!, y!])).toEqual([x, y]);
      expect(unwritable([f(x!), f(y!)])).toMatch(/a file and a folder/);
    }
    expect(collidingPaths(["a/b", "a/c", "ab", "a.b/c"])).toBeNull();
    fc.assert(
      fc.property(goodFiles, (files) => {
        const keys = files.map((g) => g.path.normalize("NFC").toLowerCase());
        const clash = keys.some((k, i) => keys.some((o, j) => i !== j && (k === o || o.startsWith(`${k}/`))));
        expect(collidingPaths(files.map((g) => g.path)) !== null).toBe(clash);
      }),
    );
    expect(unwritable([f("m.bin"), f("M.BIN.MREG-PARTIAL")])).toMatch(/\.mreg-partial/);
    expect(unwritable([f("a/m.bin.mreg-partial.json")])).toMatch(/for its own files/);
    expect(unwritable([f("a/x.mreg-copy")])).toMatch(/for its own files/);
    expect(unwritable([f(".mreg-pull.json")], [".mreg-pull.json"])).toMatch(/own record/);
    expect(unwritable([f("sub/.mreg-pull.json")], [".mreg-pull.json"])).toBeNull();
    expect(unwritable([f("../x")])).toMatch(/must not contain/);
  });

  it("names pull's default folder as one plain name", () => {
    expect(pullFolderName("payment-fraud", 3)).toBe("payment-fraud-3");
    expect(() => pullFolderName("../x", 1)).toThrow(CliError);
    expect(() => pullFolderName("m", 0)).toThrow(CliError);
  });
});
