/**
 * The pure readers under src/domain/oms, and the Merkle proof of src/signatures/rekor.ts, with
 * hostile input: truncated, overlong, flipped and random bytes and JSON give a clean problem
 * (DerError, `{problem}` or a refusing verdict), never a throw of another kind or a hang; and
 * the rules with many inputs checked as properties (base64, ECDSA encodings, path order,
 * ignored paths, the resource comparison, inclusion proofs).
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { parseBundle } from "../src/domain/oms/bundle";
import { base64Decode, base64Encode, bytesEqual, concatBytes, sha256, utf8 } from "../src/domain/oms/bytes";
import {
  DerError,
  Tag,
  childrenOf,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  encodeTlv,
  readTlv,
  readWhole,
  timeOf,
} from "../src/domain/oms/der";
import { parseSpki, pkcs8Curve, pkcs8FromSec1 } from "../src/domain/oms/keys";
import { pemBlocks } from "../src/domain/oms/pem";
import { isRefusal } from "../src/domain/oms/problem";
import { parseSctList } from "../src/domain/oms/sct";
import { compareResources, isIgnored, pathOrder, readStatement, type Statement } from "../src/domain/oms/statement";
import { parseTrustedRoot } from "../src/domain/oms/trusted-root";
import { ExtensionOid, parseCertificate } from "../src/domain/oms/x509";
import { rootFromInclusionProof } from "../src/signatures/rekor";
import { certificateFromPem, spkiFromPem, verifyBundle, type Trust } from "../src/signatures/verify";
import {
  FOLDERS,
  IDENTITY,
  bundleJson,
  bundleText,
  caCertificatePem,
  leafCertificatePem,
  signingKeyPem,
  trustedRootJson,
  versionFiles,
} from "./oms-fixtures";

/** Runs a DER reader: it returns, or throws DerError; anything else fails the property. */
function derClean(read: () => unknown): boolean {
  try {
    read();
    return true;
  } catch (error) {
    if (error instanceof DerError) return true;
    throw error;
  }
}

const leafDer = pemBlocks(leafCertificatePem, "CERTIFICATE")[0]!;
const rootDer = pemBlocks(caCertificatePem, "CERTIFICATE")[0]!;
const spkiDer = pemBlocks(signingKeyPem, "PUBLIC KEY")[0]!;
const fulcioLeafDer = base64Decode(
  (bundleJson("v1.1.0-sigstore") as { verificationMaterial: { certificate: { rawBytes: string } } })
    .verificationMaterial.certificate.rawBytes,
)!;
const realDer = [leafDer, rootDer, fulcioLeafDer];

/** Every JSON path of a value, to replace one. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((k) => paths((value as Record<string | number, unknown>)[k], [...prefix, k]))];
}
function replaced(value: unknown, path: (string | number)[], by: unknown): unknown {
  if (path.length === 0) return by;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  copy[path[0]!] = replaced(copy[path[0]!], path.slice(1), by);
  return copy;
}

describe("the DER and X.509 readers", () => {
  it("read the fixtures' certificates", () => {
    const leaf = parseCertificate(leafDer);
    expect(leaf.subjectText).toBe("CN=intermediate-ca");
    expect(leaf.basicConstraints).toEqual({ ca: true, pathLen: null });
    expect(leaf.publicKey).toMatchObject({ kind: "ec", curve: "P-384" });
    const fulcio = parseCertificate(fulcioLeafDer);
    expect(fulcio.subjectAltNames).toEqual(["stefanb@us.ibm.com"]);
    expect(fulcio.fulcioIssuer).toBe("https://sigstore.verify.ibm.com/oauth2");
    expect(fulcio.extensions.some((e) => e.oid === ExtensionOid.sctList)).toBe(true);
    expect(parseCertificate(rootDer).publicKey).toMatchObject({ kind: "rsa", bits: 3072 });
  });

  it("refuse every truncation of a real certificate with DerError", () => {
    for (const der of realDer) {
      for (let cut = 0; cut < der.length; cut++) {
        expect(() => parseCertificate(der.subarray(0, cut))).toThrow(DerError);
      }
    }
  });

  it("refuse a certificate with bytes after it", () => {
    fc.assert(
      fc.property(fc.constantFrom(...realDer), fc.uint8Array({ minLength: 1, maxLength: 64 }), (der, extra) => {
        expect(() => parseCertificate(concatBytes(der, extra))).toThrow(DerError);
      }),
    );
  });

  it("answer a flipped or overwritten byte anywhere with a certificate or a DerError", () => {
    fc.assert(
      fc.property(fc.constantFrom(...realDer), fc.nat(), fc.integer({ min: 0, max: 255 }), (der, at, value) => {
        const copy = new Uint8Array(der);
        copy[at % copy.length] = value;
        return derClean(() => parseCertificate(copy));
      }),
      { numRuns: 2000 },
    );
  });

  it("answer random bytes with DerError, in every reader", () => {
    const readers = [
      parseCertificate,
      parseSpki,
      pkcs8Curve,
      pkcs8FromSec1,
      (b: Uint8Array) => parseSctList(b),
      readWhole,
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...readers), (bytes, read) =>
        derClean(() => read(bytes)),
      ),
      { numRuns: 3000 },
    );
    // Random bytes behind a plausible header, so the readers get past the first tag.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...readers), (bytes, read) =>
        derClean(() => read(encodeTlv(Tag.sequence, bytes))),
      ),
      { numRuns: 3000 },
    );
  });

  it("refuse indefinite, overlong and over-sized lengths without reading past the input", () => {
    for (const bytes of [
      [0x30, 0x80, 0x00, 0x00],
      [0x30, 0x85, 1, 0, 0, 0, 0],
      [0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
      [0x30, 0x81, 0x05, 1, 2, 3, 4, 5],
      [0x30, 0x82, 0x00, 0x80],
      [0x1f, 0x01, 0x00],
    ]) {
      expect(() => readWhole(new Uint8Array(bytes))).toThrow(DerError);
    }
  });

  it("refuse an element that runs past its container, even with bytes to spare after it", () => {
    expect(() => readWhole(new Uint8Array([0x04, 0x05, 1, 2]))).toThrow(/runs past its container/);
    // The SEQUENCE holds 3 bytes; its OCTET STRING claims 5, which the input has but the SEQUENCE does not.
    const outer = readTlv(new Uint8Array([0x30, 0x03, 0x04, 0x05, 0x00, 1, 2, 3, 4]), 0, 9);
    expect(() => childrenOf(outer)).toThrow(/runs past its container/);
  });

  it("refuse times that name no day", () => {
    const time = (tag: number, text: string) => timeOf(readWhole(encodeTlv(tag, utf8.encode(text))), "t");
    expect(time(Tag.utcTime, "250502233628Z").toISOString()).toBe("2025-05-02T23:36:28.000Z");
    expect(time(Tag.utcTime, "490101000000Z").getUTCFullYear()).toBe(2049);
    expect(time(Tag.utcTime, "500101000000Z").getUTCFullYear()).toBe(1950);
    expect(time(Tag.generalizedTime, "20500101000000Z").getUTCFullYear()).toBe(2050);
    for (const bad of ["250230000000Z", "251301000000Z", "250502236028Z", "2505022336Z", "250502233628+0100"]) {
      expect(() => time(Tag.utcTime, bad)).toThrow(DerError);
    }
  });

  it("read the fixture key and refuse keys OMS cannot use", () => {
    expect(parseSpki(spkiDer)).toMatchObject({ kind: "ec", curve: "P-384" });
    // The same key with its curve OID changed to secp256k1 (1.3.132.0.10).
    const der = new Uint8Array(spkiDer);
    const curveAt = der.findIndex(
      (_, i) => der[i] === 0x06 && der[i + 1] === 0x05 && der[i + 2] === 0x2b && der[i + 6] === 0x22,
    );
    der[curveAt + 6] = 0x0a;
    expect(() => parseSpki(der)).toThrow(/curve 1\.3\.132\.0\.10 is not supported/);
  });
});

describe("ECDSA signature encodings", () => {
  it("DER → r‖s → DER round-trips for every size, with leading zeros trimmed and high bits padded", () => {
    fc.assert(
      fc.property(fc.constantFrom(32, 48, 66), fc.uint8Array({ minLength: 132, maxLength: 132 }), (size, random) => {
        const raw = random.subarray(0, 2 * size);
        const der = ecdsaRawToDer(raw);
        expect(ecdsaDerToRaw(der, size)).toEqual(raw);
      }),
    );
  });

  it("answer null, never throw, for anything that is not a DER signature of that size", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), fc.constantFrom(32, 48, 66), (bytes, size) => {
        const raw = ecdsaDerToRaw(bytes, size);
        return raw === null || raw.length === 2 * size;
      }),
      { numRuns: 3000 },
    );
    // r longer than the curve allows.
    const long = ecdsaRawToDer(new Uint8Array(98).fill(0x7f));
    expect(ecdsaDerToRaw(long, 32)).toBeNull();
  });
});

describe("base64", () => {
  it("round-trips, and decodes the URL-safe alphabet too", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = base64Encode(bytes);
        expect(text).toBe(btoa(String.fromCharCode(...bytes)));
        expect(base64Decode(text)).toEqual(bytes);
        expect(base64Decode(text.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"))).toEqual(bytes);
      }),
    );
  });

  it("refuses what is not base64, without throwing", () => {
    for (const bad of ["A", "AB=C", "A===", "QQ=", "QR==", "Zm9v YmFy", "é"]) expect(base64Decode(bad)).toBeNull();
    fc.assert(
      fc.property(fc.string(), (text) => base64Decode(text) === null || base64Decode(text) instanceof Uint8Array),
    );
  });
});

describe("the bundle and statement readers", () => {
  it("read each fixture's shape", () => {
    const kinds = FOLDERS.map((f) => {
      const bundle = parseBundle(bundleJson(f));
      return isRefusal(bundle) ? bundle.problem.detail : bundle.material.kind;
    });
    expect(kinds).toEqual(["key", "key", "certificate", "certificate", "sigstore", "sigstore"]);
  });

  it("answer any field of a fixture replaced by any JSON with a bundle or a problem, never a throw", () => {
    const bundles = FOLDERS.map(bundleJson);
    fc.assert(
      fc.property(fc.constantFrom(...bundles), fc.nat(), fc.jsonValue({ maxDepth: 3 }), (bundle, pick, by) => {
        const all = paths(bundle);
        const result = parseBundle(replaced(bundle, all[pick % all.length]!, by));
        return isRefusal(result) ? result.problem.check === "envelope" : typeof result.material.kind === "string";
      }),
      { numRuns: 3000 },
    );
    fc.assert(fc.property(fc.jsonValue(), (json) => isRefusal(parseBundle(json))));
  });

  it("read statements from any bytes or JSON with a statement or a problem, never a throw", () => {
    const payload = (f: (typeof FOLDERS)[number]) =>
      JSON.parse(
        new TextDecoder().decode(
          base64Decode((bundleJson(f) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload)!,
        ),
      );
    const statements = FOLDERS.map(payload);
    fc.assert(
      fc.property(fc.constantFrom(...statements), fc.nat(), fc.jsonValue({ maxDepth: 3 }), (statement, pick, by) => {
        const all = paths(statement);
        const result = readStatement(utf8.encode(JSON.stringify(replaced(statement, all[pick % all.length]!, by))));
        return isRefusal(result) ? result.problem.check === "statement" : Array.isArray(result.resources);
      }),
      { numRuns: 3000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => isRefusal(readStatement(bytes))));
  });

  it("read the trusted root, and answer a damaged one with a problem, never a throw", () => {
    const json = trustedRootJson();
    const root = parseTrustedRoot(json);
    expect(
      isRefusal(root) ? root.problem : { tlogs: root.tlogs.length, cas: root.certificateAuthorities.length },
    ).toEqual({
      tlogs: 2,
      cas: 2,
    });
    if (!isRefusal(root)) expect(root.tlogs[1]!.key).toMatchObject({ kind: "ed25519" });
    fc.assert(
      fc.property(fc.nat(), fc.jsonValue({ maxDepth: 2 }), (pick, by) => {
        const all = paths(json);
        const result = parseTrustedRoot(replaced(json, all[pick % all.length]!, by));
        return isRefusal(result) ? result.problem.check === "trusted_root" : Array.isArray(result.tlogs);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("verifyBundle on damaged fixtures", () => {
  /** Every fixture's signer trusted, so damage reaches the deepest checks (Rekor, chain, SCT). */
  let trust: Trust;
  beforeAll(async () => {
    const root = parseTrustedRoot(trustedRootJson());
    const key = await spkiFromPem(signingKeyPem);
    const ca = await certificateFromPem(caCertificatePem);
    if (isRefusal(root) || isRefusal(key) || isRefusal(ca)) throw new Error("fixtures unreadable");
    trust = {
      keys: [{ id: "k", name: "k", spkiDer: key.spkiDer }],
      cas: [{ id: "c", name: "c", certDer: ca.certDer }],
      identities: [{ id: "i", name: "i", ...IDENTITY }],
      sigstoreRoot: root,
    };
  });

  it.each(FOLDERS)("%s: flipped, cut or lengthened bytes give a verdict, never a throw", async (folder) => {
    const text = bundleText(folder);
    const files = await versionFiles(folder);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("flip", "cut", "append"),
        async (at, value, how) => {
          const bytes = utf8.encode(text);
          const damaged =
            how === "flip"
              ? bytes.map((b, i) => (i === at % bytes.length ? value : b))
              : how === "cut"
                ? bytes.subarray(0, at % bytes.length)
                : concatBytes(bytes, new Uint8Array([value]));
          const verdict = await verifyBundle(damaged, files, trust);
          return typeof verdict.ok === "boolean";
        },
      ),
      { numRuns: 150 },
    );
  });

  it.each(FOLDERS)(
    "%s: any field replaced by any JSON or any base64 gives a verdict, never a throw",
    async (folder) => {
      const bundle = bundleJson(folder);
      const all = paths(bundle);
      const files = await versionFiles(folder);
      const replacement = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 80 }).map(base64Encode));
      await fc.assert(
        fc.asyncProperty(fc.nat(), replacement, async (pick, by) => {
          const verdict = await verifyBundle(
            JSON.stringify(replaced(bundle, all[pick % all.length]!, by)),
            files,
            trust,
          );
          return typeof verdict.ok === "boolean";
        }),
        { numRuns: 200 },
      );
    },
  );

  it("refuses a bundle over 4 MiB before reading it", async () => {
    const verdict = await verifyBundle(new Uint8Array(4 * 1024 * 1024 + 1), new Map(), {
      keys: [],
      cas: [],
      identities: [],
      sigstoreRoot: null,
    });
    expect(verdict).toMatchObject({ ok: false, check: "envelope", detail: expect.stringMatching(/more than 4194304/) });
  });
});

describe("resource order and comparison", () => {
  it("orders paths as Python's sorted(PurePosixPath) does (component-wise, by code point)", () => {
    // Printed by python3: sorted(PurePosixPath(p) for p in …).
    const python = [
      "1/0",
      "10",
      "9",
      "A",
      "a",
      "a/a",
      "a/b",
      "a/b/c",
      "a/b-c",
      "a b",
      "a-b",
      "a.b",
      "ab",
      "b/\ufffd",
      "b/\ud83d\ude00",
      "x/y.bin",
      "x/yz",
      "x-y/z",
      "z",
      "\u00e9",
      "\ufffd",
      "\ud83d\ude00",
    ];
    const shuffled = [...python].reverse();
    expect(shuffled.sort(pathOrder)).toEqual(python);
  });

  it("is a total order consistent with equality", () => {
    const path = fc
      .array(fc.stringMatching(/^[a-c.\-\u00e9\ud83d\ude00]{1,3}$/), { minLength: 1, maxLength: 3 })
      .map((p) => p.join("/"));
    fc.assert(
      fc.property(path, path, path, (a, b, c) => {
        expect(Math.sign(pathOrder(a, b)) + Math.sign(pathOrder(b, a))).toBe(0);
        expect(pathOrder(a, b) === 0).toBe(a === b);
        if (pathOrder(a, b) < 0 && pathOrder(b, c) < 0) expect(pathOrder(a, c)).toBeLessThan(0);
      }),
    );
  });

  it("ignores a path and everything under it, nothing else", () => {
    const segment = fc.constantFrom("a", "b", "ab", ".git", "a.b");
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((p) => p.join("/"));
    fc.assert(
      fc.property(path, fc.array(path, { maxLength: 4 }), (p, ignored) => {
        const naive = ignored.some((i) => p === i || p.startsWith(`${i}/`));
        expect(isIgnored(p, new Set(ignored))).toBe(naive);
      }),
    );
  });

  it("finds exactly the missing, extra and changed files", () => {
    const sha = fc.constantFrom("aa".repeat(32), "bb".repeat(32), "cc".repeat(32));
    const files = fc.dictionary(fc.stringMatching(/^[a-d]{1,2}(\/[a-d])?$/), sha, { maxKeys: 12 });
    fc.assert(
      fc.property(files, files, (signed, version) => {
        const statement: Statement = {
          name: "m",
          subjectSha256: "",
          resources: Object.entries(signed).map(([name, sha256]) => ({ name, sha256 })),
          digestBytes: new Uint8Array(),
          ignorePaths: [],
        };
        const problems = compareResources(statement, new Map(Object.entries(version)));
        const expected =
          Object.keys(signed).filter((p) => !(p in version)).length +
          Object.keys(version).filter((p) => !(p in signed)).length +
          Object.keys(version).filter((p) => p in signed && signed[p] !== version[p]).length;
        expect(problems.length).toBe(Math.min(expected, 20) + (expected > 20 ? 1 : 0));
      }),
    );
  });
});

describe("RFC 9162 inclusion proofs", () => {
  const leafHash = (i: number) => sha256(concatBytes(new Uint8Array([0]), utf8.encode(`leaf ${i}`)));
  const node = (l: Uint8Array, r: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), l, r));
  const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));
  async function root(leaves: Uint8Array[]): Promise<Uint8Array> {
    if (leaves.length === 1) return leaves[0]!;
    const k = split(leaves.length);
    return node(await root(leaves.slice(0, k)), await root(leaves.slice(k)));
  }
  /** RFC 9162 §2.1.3.1's PATH(m, D[n]), straight from the definition. */
  async function proof(m: number, leaves: Uint8Array[]): Promise<Uint8Array[]> {
    if (leaves.length === 1) return [];
    const k = split(leaves.length);
    return m < k
      ? [...(await proof(m, leaves.slice(0, k))), await root(leaves.slice(k))]
      : [...(await proof(m - k, leaves.slice(k))), await root(leaves.slice(0, k))];
  }

  it("lead every leaf of every tree of up to 40 leaves to the root, and nothing altered does", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), async (size, pick, flip) => {
        const leaves = await Promise.all(Array.from({ length: size }, (_, i) => leafHash(i)));
        const index = pick % size;
        const path = await proof(index, leaves);
        const expected = await root(leaves);
        const got = await rootFromInclusionProof(leaves[index]!, BigInt(index), BigInt(size), path);
        expect(got !== null && bytesEqual(got, expected)).toBe(true);
        // Another index, a shorter or longer path, or a flipped hash: not the root.
        const other = await rootFromInclusionProof(
          leaves[index]!,
          BigInt((index + 1) % (size + 1)),
          BigInt(size),
          path,
        );
        if (size > 1) expect(other !== null && bytesEqual(other, expected)).toBe(false);
        if (path.length > 0) {
          const altered = path.map((h, i) => (i === flip % path.length ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h));
          const bad = await rootFromInclusionProof(leaves[index]!, BigInt(index), BigInt(size), altered);
          expect(bad !== null && bytesEqual(bad, expected)).toBe(false);
          expect(await rootFromInclusionProof(leaves[index]!, BigInt(index), BigInt(size), path.slice(1))).not.toEqual(
            expected,
          );
        }
        expect(await rootFromInclusionProof(leaves[index]!, BigInt(size), BigInt(size), path)).toBeNull();
      }),
      { numRuns: 150 },
    );
  });
});
