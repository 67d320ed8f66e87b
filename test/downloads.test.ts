/**
 * Downloads per version (issue 20, item 12): counted off the download path in the model's
 * ModelState, projected into D1 by its alarm, and shown on Version (`downloads`) and in the UI.
 * What counts: an answer through /v1 or the Hugging Face bridge that sends the file's last
 * byte (issue 33: a download in ranges counts once, a header read none); not a HEAD, a 304,
 * the Hub's one-byte size probe, or the UI showing the model card (test/download-counts.test.ts).
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

const enc = (s: string) => new TextEncoder().encode(s);

/** A UI session cookie for a token with `scope`, as the browser gets it from the sign-in form. */
async function uiSession(scope: string): Promise<string> {
  const token = await hsToken({ sub: "dl-viewer", scope });
  const body = new URLSearchParams({ token, next: "/" });
  const res = await exports.default.fetch(
    new Request("http://127.0.0.1:8787/sign-in", {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    }),
  );
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

/**
 * Fires the model's alarm until the version shows `expected` downloads or more (the counts
 * arrive through waitUntil), and returns how many it shows.
 */
async function downloadsReach(model: string, version: number, expected: number): Promise<number> {
  let seen = -1;
  await until(
    async () => {
      await runDurableObjectAlarm(modelStub(model));
      seen = (await json("GET", `/v1/models/${model}/versions/${version}`)).body.downloads as number;
      return seen >= expected;
    },
    () => `${expected} downloads of ${model} v${version} (${seen} so far)`,
  );
  return seen;
}

describe("downloads per version", () => {
  it("counts whole downloads through /v1 and the Hub bridge, not probes, resumes, HEADs or 304s", async () => {
    await createModel("dl-count");
    const v = (await readyVersion("dl-count", { "model.bin": enc("0123456789"), "README.md": enc("# card") }))
      .version as number;
    const other = (await readyVersion("dl-count", { "model.bin": enc("other") })).version as number;
    expect((await json("GET", `/v1/models/dl-count/versions/${v}`)).body.downloads).toBe(0);
    await json("PUT", "/v1/models/dl-count/aliases/production", { body: { version: v } });

    const file = `/v1/models/dl-count/versions/${v}/files/model.bin`;
    const whole = await call("GET", file);
    expect(await whole.text()).toBe("0123456789");
    // A download resumed after its first half: the range that ends the file counts, once.
    const first = await call("GET", file, { headers: { range: "bytes=0-4" } });
    expect([first.status, await first.text()]).toEqual([206, "01234"]);
    expect(await (await call("GET", file, { headers: { range: "bytes=5-" } })).text()).toBe("56789");
    // Not downloads: a HEAD, a revalidation, the Hub's size probe.
    expect((await call("HEAD", file)).status).toBe(200);
    const sha = whole.headers.get("x-mreg-sha256")!;
    expect((await call("GET", file, { headers: { "if-none-match": `"${sha}"` } })).status).toBe(304);
    const probe = await call("GET", "/dl-count/resolve/production/model.bin", { headers: { range: "bytes=0-0" } });
    expect([probe.status, await probe.text()]).toEqual([206, "0"]);
    // The Hub bridge's resolve route counts like /v1.
    expect(await (await call("GET", "/dl-count/resolve/production/model.bin")).text()).toBe("0123456789");

    expect(await downloadsReach("dl-count", v, 3)).toBe(3);
    const list = await json("GET", "/v1/models/dl-count/versions");
    expect(list.body.items.map((i: { version: number; downloads: number }) => [i.version, i.downloads])).toEqual([
      [other, 0],
      [v, 3],
    ]);
  });

  it("counts a download through the web UI's file link but not the model card it renders", async () => {
    await createModel("dl-ui");
    const v = (await readyVersion("dl-ui", { "README.md": enc("# Card\n\nhello") })).version as number;
    const cookie = await uiSession("read");
    const page = async () => (await call("GET", `/m/dl-ui/v/${v}`, { token: null, headers: { cookie } })).text();
    expect(await page()).toContain("hello");
    expect(await page()).toContain("hello");
    const link = await call("GET", `/m/dl-ui/v/${v}/files/README.md`, { token: null, headers: { cookie } });
    expect(await link.text()).toBe("# Card\n\nhello");
    expect(await downloadsReach("dl-ui", v, 1)).toBe(1);
    // Two more page views later, still one.
    await page();
    await runDurableObjectAlarm(modelStub("dl-ui"));
    expect(await downloadsReach("dl-ui", v, 1)).toBe(1);
    const html = await page();
    expect(html).toMatch(/data-downloads="1"/);
  });
});
