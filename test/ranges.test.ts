/**
 * `Range` headers as RFC 9110 §14.2 reads them: a syntactically invalid range (`bytes=5-2`: the
 * last byte before the first) is ignored, so the answer is 200 with the whole body; a valid
 * range that starts past the end is 416. One parser (src/domain/range.ts) serves `/v1` and
 * every bridge; each route is checked here.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRange } from "../src/domain/range";
import { call, createModel, readyVersion, sha256Of } from "./helpers";

const enc = (s: string) => new TextEncoder().encode(s);

describe("parseRange", () => {
  it("ignores a range whose last byte is before its first, whatever the size", () => {
    fc.assert(
      fc.property(fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 }), (a, b, size) => {
        fc.pre(a !== b);
        const [first, last] = a > b ? [a, b] : [b, a];
        expect(parseRange(`bytes=${first}-${last}`, size)).toEqual({ kind: "full" });
      }),
    );
  });

  it("answers a valid first-last range within the body, and 416 only when it starts past the end", () => {
    fc.assert(
      fc.property(fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 }), (a, b, size) => {
        const [first, last] = a <= b ? [a, b] : [b, a];
        const outcome = parseRange(`bytes=${first}-${last}`, size);
        if (first >= size) expect(outcome).toEqual({ kind: "unsatisfiable" });
        else expect(outcome).toEqual({ kind: "partial", offset: first, length: Math.min(last, size - 1) - first + 1 });
      }),
    );
  });
});

describe("an invalid range is ignored on every route", () => {
  const body = "0123456789";
  const invalid = { range: "bytes=5-2" };
  const wholeBody = async (res: Response) => [
    res.status,
    res.headers.get("content-range"),
    res.headers.get("content-length"),
    await res.text(),
  ];
  const expected = [200, null, "10", body];

  it("on /v1 files, the Hugging Face resolve route, OCI blobs and MLflow artifacts", async () => {
    await createModel("range-inv");
    const v = (await readyVersion("range-inv", { "w.bin": enc(body) })).version as number;
    expect((await call("PUT", "/v1/models/range-inv/aliases/production", { body: { version: v } })).status).toBe(200);
    const digest = `sha256:${await sha256Of(body)}`;
    const routes = [
      `/v1/models/range-inv/versions/${v}/files/w.bin`,
      "/range-inv/resolve/production/w.bin",
      "/mreg/range-inv/resolve/main/w.bin",
      `/v2/range-inv/blobs/${digest}`,
      `/api/2.0/mlflow-artifacts/artifacts/models/range-inv/versions/${v}/w.bin`,
    ];
    for (const route of routes) {
      expect([route, ...(await wholeBody(await call("GET", route, { headers: invalid })))]).toEqual([
        route,
        ...expected,
      ]);
      // A valid range past the end is still 416, and a valid one inside is 206.
      expect([route, (await call("GET", route, { headers: { range: "bytes=20-30" } })).status]).toEqual([route, 416]);
      const partial = await call("GET", route, { headers: { range: "bytes=2-4" } });
      expect([route, partial.status, await partial.text()]).toEqual([route, 206, "234"]);
    }
  }, 60_000);
});
