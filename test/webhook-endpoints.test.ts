/**
 * Which URLs a webhook may have (API.md "Events (webhooks)"): https to a public host; no
 * `localhost`, and no literal IP in a loopback, private, link-local, unique-local,
 * unspecified or carrier-grade-NAT range, in any notation; loopback only with
 * `ALLOW_HTTP_WEBHOOKS=true`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { endpointProblem } from "../src/domain/webhook";
import { json } from "./helpers";

/** The forbidden IPv4 blocks, written out independently of the code under test. */
const FORBIDDEN_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "224.0.0.0/4",
  "240.0.0.0/4",
].map((cidr) => {
  const [ip, bits] = cidr.split("/") as [string, string];
  const base = ip.split(".").reduce((n, p) => n * 256 + Number(p), 0);
  return { base, size: 2 ** (32 - Number(bits)) };
});
const forbiddenV4 = (n: number) => FORBIDDEN_V4.some((r) => n >= r.base && n < r.base + r.size);

/** An address in a forbidden IPv4 block. */
const forbiddenV4Address = fc
  .tuple(fc.constantFrom(...FORBIDDEN_V4), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }))
  .map(([r, f]) => r.base + Math.floor(f * r.size));
const publicV4Address = fc.integer({ min: 0, max: 2 ** 32 - 1 }).filter((n) => !forbiddenV4(n));

/** One number in decimal, octal (leading 0) or hex (0x/0X, either case), as URL hosts accept. */
const numberText = (n: number) =>
  fc.constantFrom("dec", "oct", "hex", "HEX").map((how) => {
    if (how === "dec") return String(n);
    if (how === "oct") return `0${n.toString(8)}`;
    return how === "hex" ? `0x${n.toString(16)}` : `0X${n.toString(16).toUpperCase()}`;
  });

/** An IPv4 address in any notation the WHATWG host parser takes: 1 to 4 parts, each in any base, maybe a trailing dot. */
function v4Notation(n: number): fc.Arbitrary<string> {
  const bytes = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return fc.tuple(fc.integer({ min: 1, max: 4 }), fc.boolean()).chain(([parts, dot]) => {
    // The last part holds the remaining bytes: a.b.c.d, a.b.(c·256+d), a.(b·65536+…), or n.
    const leading = bytes.slice(0, parts - 1);
    const last = bytes.slice(parts - 1).reduce((acc, b) => acc * 256 + b, 0);
    return fc.tuple(...[...leading, last].map(numberText)).map((texts) => texts.join(".") + (dot ? "." : ""));
  });
}

const hex = (n: number) => n.toString(16);

/** An IPv6 address as groups, in a random textual form: case, leading zeros, `::` at some zero run. */
function v6Notation(groups: readonly number[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.boolean(), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), fc.nat())
    .map(([upper, pad, pick]) => {
      const texts = groups.map((g, i) => (pad[i] ? g.toString(16).padStart(4, "0") : hex(g)));
      const runs: [number, number][] = [];
      for (let i = 0; i < 8; i++) {
        if (groups[i] !== 0) continue;
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        runs.push([i, j]);
        i = j;
      }
      let text = texts.join(":");
      if (runs.length > 0 && pick % (runs.length + 1) !== runs.length) {
        const [from, to] = runs[pick % (runs.length + 1)]!;
        text = `${texts.slice(0, from).join(":")}::${texts.slice(to).join(":")}`;
      }
      return upper ? text.toUpperCase() : text;
    });
}

const group = fc.integer({ min: 0, max: 0xffff });
const v4Groups = (n: number) => [n >>> 16, n & 0xffff];

/** An IPv6 address in a forbidden range, or one that carries a forbidden IPv4 address. */
const forbiddenV6 = fc.oneof(
  fc.constant([0, 0, 0, 0, 0, 0, 0, 1]), // loopback
  fc.constant([0, 0, 0, 0, 0, 0, 0, 0]), // unspecified
  fc
    .tuple(fc.integer({ min: 0xfc00, max: 0xfdff }), fc.array(group, { minLength: 7, maxLength: 7 }))
    .map(([g, rest]) => [g, ...rest]), // unique-local
  fc
    .tuple(fc.integer({ min: 0xfe80, max: 0xfebf }), fc.array(group, { minLength: 7, maxLength: 7 }))
    .map(([g, rest]) => [g, ...rest]), // link-local
  forbiddenV4Address.map((n) => [0, 0, 0, 0, 0, 0xffff, ...v4Groups(n)]), // IPv4-mapped
  forbiddenV4Address.map((n) => [0x64, 0xff9b, 0, 0, 0, 0, ...v4Groups(n)]), // NAT64
  fc
    .tuple(forbiddenV4Address, group, group, group, group, group)
    .map(([n, ...rest]) => [0x2002, ...v4Groups(n), ...rest]), // 6to4
);

const url = (host: string) =>
  fc
    .tuple(
      fc.constantFrom("https", "http", "HTTPS"),
      fc.constantFrom("", ":443", ":8080"),
      fc.constantFrom("/", "/hook", "/a?b=c"),
    )
    .map(([scheme, port, path]) => `${scheme}://${host}${port}${path}`);

describe("webhook URLs", () => {
  it("relies on URL's host parser to bring every IPv4 notation to dotted decimal (checked, not assumed)", () => {
    for (const [host, normal] of [
      ["2130706433", "127.0.0.1"],
      ["0x7f000001", "127.0.0.1"],
      ["0X7F.0.0.1", "127.0.0.1"],
      ["0177.0.0.1", "127.0.0.1"],
      ["127.1", "127.0.0.1"],
      ["127.0.1", "127.0.0.1"],
      ["127.0.0.1.", "127.0.0.1"],
      ["0", "0.0.0.0"],
      ["2852039166", "169.254.169.254"],
      ["0xa9.0xfe.0xa9.0xfe", "169.254.169.254"],
      ["%31%36%39.254.169.254", "169.254.169.254"],
      ["１２７.０.０.１", "127.0.0.1"],
      ["[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]"],
      ["[0:0:0:0:0:0:0:1]", "[::1]"],
      ["LOCALHOST", "localhost"],
      ["ｌｏｃａｌｈｏｓｔ", "localhost"],
    ] as const) {
      expect(new URL(`https://${host}/`).hostname, host).toBe(normal);
    }
  });

  it("refuses localhost and private, loopback, link-local, unique-local, unspecified and CGNAT literals", () => {
    for (const u of [
      "https://localhost/",
      "https://localhost./",
      "https://LocalHost:8443/x",
      "https://api.localhost/",
      "https://a.b.localhost../",
      "https://127.0.0.1/",
      "https://127.255.255.254/",
      "https://0.0.0.0/",
      "https://0/",
      "https://10.1.2.3/",
      "https://172.16.0.1/",
      "https://172.31.255.255/",
      "https://192.168.1.1/",
      "https://100.64.0.1/",
      "https://100.127.255.255/",
      "https://169.254.169.254/latest/meta-data/",
      "https://2852039166/",
      "https://0xa9fea9fe/",
      "https://0251.0376.0251.0376/",
      "https://169.254.43518/",
      "https://[::1]/",
      "https://[::]/",
      "https://[0:0:0:0:0:0:0:1]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[::ffff:169.254.169.254]/",
      "https://[::ffff:a9fe:a9fe]/",
      "https://[::ffff:10.0.0.1]/",
      "https://[::127.0.0.1]/",
      "https://[64:ff9b::169.254.169.254]/",
      "https://[64:ff9b::a9fe:a9fe]/",
      "https://[2002:a9fe:a9fe::1]/",
      "https://[2002:7f00:1::]/",
      "https://[fc00::1]/",
      "https://[fd12:3456:789a::1]/",
      "https://[fe80::1]/",
      "https://[febf:ffff::1]/",
      "https://224.0.0.1/",
      "https://255.255.255.255/",
    ]) {
      expect(endpointProblem(u, false), u).toMatch(/must not point at a/);
    }
  });

  it("takes public hosts and addresses", () => {
    for (const u of [
      "https://hooks.example.com/x",
      "https://8.8.8.8/",
      "https://172.32.0.1/",
      "https://172.15.255.255/",
      "https://100.128.0.1/",
      "https://100.63.255.255/",
      "https://169.255.0.1/",
      "https://192.169.0.1/",
      "https://[2606:4700::1111]/",
      "https://[::ffff:8.8.8.8]/",
      "https://[64:ff9b::808:808]/",
      "https://[2002:808:808::1]/",
      "https://localhost.example.com/",
      "https://mylocalhost/",
      "https://127.0.0.1.nip.io/",
    ]) {
      expect(endpointProblem(u, false), u).toBeNull();
    }
  });

  it("lets loopback (and only loopback) through when ALLOW_HTTP_WEBHOOKS=true", () => {
    for (const u of [
      "http://localhost:9/x",
      "http://127.0.0.1:9/",
      "http://127.0.0.2/",
      "https://[::1]:8443/",
      "http://[::ffff:127.0.0.1]/",
      "http://api.localhost/",
    ]) {
      expect(endpointProblem(u, true), u).toBeNull();
      expect(endpointProblem(u, false), u).not.toBeNull();
    }
    for (const u of [
      "https://0.0.0.0/",
      "https://169.254.169.254/",
      "https://[fe80::1]/",
      "https://10.0.0.1/",
      "https://100.64.0.1/",
    ]) {
      expect(endpointProblem(u, true), u).toMatch(/must not point at a/);
    }
  });

  it("refuses every address in a forbidden IPv4 range, in any notation (property)", () => {
    fc.assert(
      fc.property(forbiddenV4Address.chain(v4Notation).chain(url), (u) => {
        expect(endpointProblem(u, false), u).not.toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses every forbidden IPv6 address and every IPv6 form of a forbidden IPv4 one (property)", () => {
    fc.assert(
      fc.property(
        forbiddenV6.chain(v6Notation).chain((text) => url(`[${text}]`)),
        (u) => {
          expect(endpointProblem(u, false), u).not.toBeNull();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("takes every public IPv4 address, in any notation, over https (property)", () => {
    fc.assert(
      fc.property(publicV4Address.chain(v4Notation), (host) => {
        const u = `https://${host}/hook`;
        expect(endpointProblem(u, false), u).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it("answers 400 to a create or a change that points a webhook at a private address (loopback is allowed in tests)", async () => {
    for (const u of [
      "https://169.254.169.254/latest/meta-data/",
      "https://[::ffff:a9fe:a9fe]/",
      "https://0.0.0.0/",
      "https://2852039166/",
      "https://10.0.0.1/",
      "https://[fe80::1]/",
    ]) {
      const res = await json("POST", "/v1/webhooks", { body: { url: u } });
      expect(res.status, u).toBe(400);
      expect(res.body).toMatchObject({ code: "validation_failed", errors: [{ path: "url" }] });
    }
    const created = await json("POST", "/v1/webhooks", { body: { url: "https://hooks.test/public" } });
    expect(created.status).toBe(201);
    const patched = await json("PATCH", `/v1/webhooks/${created.body.id}`, { body: { url: "https://[fd00::1]/x" } });
    expect(patched.status).toBe(400);
    expect((await json("GET", `/v1/webhooks/${created.body.id}`)).body.url).toBe("https://hooks.test/public");
  });
});
