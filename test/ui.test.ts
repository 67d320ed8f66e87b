/**
 * The web UI's pages through the Worker's real fetch handler: sign-in and its cookie,
 * escaping of user data (descriptions, tags, file paths, Markdown), CSRF and scope refusals,
 * a read-only session without action forms, and the API's 404 left alone.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, hsToken, json, readyVersion } from "./helpers";
import { bundleText, fileText, signingKeyPem, type Folder } from "./oms-fixtures";
import { deleteKey, registerKey, uploadSignature } from "./signing-helpers";

const XSS = `<script>alert("x")</script>`;

/** A request to the UI as a browser would send it (cookie, form posts). */
async function page(
  method: string,
  path: string,
  opts: { cookie?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
) {
  const headers = new Headers(opts.headers);
  if (opts.cookie) headers.set("cookie", opts.cookie);
  const body = opts.form ? new URLSearchParams(opts.form) : undefined;
  if (body) headers.set("content-type", "application/x-www-form-urlencoded");
  const res = await exports.default.fetch(
    new Request(`http://127.0.0.1:8787${path}`, { method, headers, body, redirect: "manual" }),
  );
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function signIn(scope: string, sub = "ui-user"): Promise<string> {
  const token = await hsToken({ sub, scope });
  const res = await page("POST", "/sign-in", { form: { token, next: "/" } });
  expect(res.status).toBe(303);
  const cookie = res.headers.get("set-cookie")!;
  return cookie.split(";")[0]!;
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1];

/** A ready version (made by `token` when given): its number. */
async function ready(
  model: string,
  files: Record<string, string>,
  body: Record<string, unknown> = {},
  token?: string,
): Promise<number> {
  return (await readyVersion(model, files, { body, ...(token ? { token } : {}) })).version as number;
}

describe("sign-in", () => {
  it("sends an unauthenticated reader to the sign-in page", async () => {
    const res = await page("GET", "/m/x?y=1");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/sign-in?next=%2Fm%2Fx%3Fy%3D1");
    const form = await page("GET", "/sign-in");
    expect(form.status).toBe(200);
    expect(form.text).toContain('name="token"');
  });

  it("turns a valid token into an HttpOnly SameSite=Strict cookie that expires with it", async () => {
    const token = await hsToken({ sub: "bob", scope: "read", expiresIn: 600 });
    const res = await page("POST", "/sign-in", { form: { token, next: "/audit" } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/audit");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^mreg_session=/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThan(590);
    expect(maxAge).toBeLessThanOrEqual(600);
    // Served from loopback over http: Secure would stop the browser sending it back.
    expect(cookie).not.toContain("Secure");
    const home = await page("GET", "/", { cookie: cookie.split(";")[0] });
    expect(home.status).toBe(200);
    expect(home.text).toContain("bob");
    expect(home.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // Only the UI's own script may run (by hash); the browser test shows it does.
    expect(home.headers.get("content-security-policy")).toMatch(/script-src 'sha256-[A-Za-z0-9+\/]+=*'/);
  });

  it("marks the cookie Secure off loopback", async () => {
    const token = await hsToken({ scope: "read" });
    const res = await exports.default.fetch(
      new Request("https://mreg.example.com/sign-in", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
        redirect: "manual",
      }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toContain("; Secure");
  });

  it("refuses a sign-in or sign-out posted from another origin", async () => {
    const token = await hsToken({ scope: "read" });
    const res = await page("POST", "/sign-in", { form: { token }, headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
    const same = await page("POST", "/sign-in", { form: { token }, headers: { origin: "http://127.0.0.1:8787" } });
    expect(same.status).toBe(303);
  });

  it("refuses a bad or expired token, and a cookie whose token expired", async () => {
    const bad = await page("POST", "/sign-in", { form: { token: "not-a-jwt" } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("set-cookie")).toBeNull();
    const expired = await hsToken({ expiresIn: -120 });
    expect((await page("POST", "/sign-in", { form: { token: expired } })).status).toBe(401);
    expect((await page("GET", "/", { cookie: `mreg_session=${expired}` })).status).toBe(303);
  });

  it("signs out only with the session's CSRF token", async () => {
    const cookie = await signIn("read");
    const home = await page("GET", "/", { cookie });
    expect((await page("POST", "/sign-out", { cookie, form: { csrf: "forged" } })).status).toBe(403);
    const out = await page("POST", "/sign-out", { cookie, form: { csrf: csrfOf(home.text)! } });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/^mreg_session=;.*Max-Age=0/);
  });
});

describe("pages", () => {
  it("lists models by prefix, kind and tag, with aliases and latest version", async () => {
    await createModel("ui-list-a", { kind: "model", tags: { team: "fraud" } });
    await createModel("ui-list-b", { kind: "prompt", tags: { team: "search" } });
    const v = await ready("ui-list-a", { "w.bin": "a" });
    expect((await json("PUT", "/v1/models/ui-list-a/aliases/production", { body: { version: v } })).status).toBe(200);
    const cookie = await signIn("read");
    const all = await page("GET", "/?prefix=ui-list-", { cookie });
    expect(all.text).toContain("ui-list-a");
    expect(all.text).toContain("ui-list-b");
    expect(all.text).toContain(`production → v${v}`);
    const prompts = await page("GET", "/?prefix=ui-list-&kind=prompt", { cookie });
    expect(prompts.text).not.toContain(">ui-list-a<");
    expect(prompts.text).toContain(">ui-list-b<");
    // One tag syntax (issue 33): key:value and key=value find the same models, and the page
    // says the search and the column are the model's tags, not a version's.
    for (const tag of ["team%3Afraud", "team%3Dfraud"]) {
      const tagged = await page("GET", `/?prefix=ui-list-&tag=${tag}`, { cookie });
      expect(tagged.status, tag).toBe(200);
      expect(tagged.text).toContain(">ui-list-a<");
      expect(tagged.text).not.toContain(">ui-list-b<");
      expect(tagged.text).toContain("Model tag (key=value)");
      expect(tagged.text).toContain("<th>Model tags</th>");
      expect(tagged.text).toContain("team=fraud");
    }
    const version = await page("GET", `/m/ui-list-a/v/${v}`, { cookie });
    expect(version.text).toContain("<h2>Version tags</h2>");
  });

  it("escapes descriptions, tags, file paths and Markdown so scripts render inert", async () => {
    await createModel("ui-xss", { description: `desc ${XSS}`, tags: { [`k${XSS}`]: `v${XSS}` } });
    const readme = `# Card\n\nHello ${XSS} <img src=x onerror=alert(1)>\n\n[click](javascript:alert(1)) and [ok](https://example.com)\n\n\`\`\`\n${XSS}\n\`\`\`\n`;
    const v = await ready(
      "ui-xss",
      { "README.md": readme, [`dir/<script>x.txt`]: "x" },
      { description: XSS, tags: { note: XSS } },
    );
    const cookie = await signIn("read");
    for (const path of ["/?prefix=ui-xss", "/m/ui-xss", `/m/ui-xss/v/${v}`]) {
      const res = await page("GET", path, { cookie });
      expect(res.status, path).toBe(200);
      // The only scripts on a page are the UI's own inline one.
      expect(res.text.match(/<script/g)?.length, path).toBe(1);
      expect(res.text).not.toContain("<img");
      expect(res.text).toContain("&lt;script&gt;");
    }
    const version = await page("GET", `/m/ui-xss/v/${v}`, { cookie });
    expect(version.text).toContain("Model card");
    expect(version.text).toContain("<h3>Card</h3>");
    expect(version.text).not.toContain('href="javascript:');
    expect(version.text).toContain('href="https://example.com"');
    expect(version.text).toContain("/files/dir/%3Cscript%3Ex.txt");
    const download = await page("GET", `/m/ui-xss/v/${v}/files/README.md`, { cookie });
    expect(download.status).toBe(200);
    expect(download.text).toBe(readme);
    expect(download.headers.get("content-disposition")).toContain("attachment");
  });

  it("shows a card's front matter as metadata and its tables; a README over the cap is named, not rendered", async () => {
    await createModel("ui-card");
    const readme =
      "---\nlicense: mit\ntags: [fraud, payments]\nlibrary_name: sklearn\n---\n# Card\n\n| metric | value |\n|---|--:|\n| auc | 0.96 |\n";
    const v = await ready("ui-card", { "README.md": readme });
    const cookie = await signIn("read");
    const res = await page("GET", `/m/ui-card/v/${v}`, { cookie });
    expect(res.status).toBe(200);
    expect(res.text).toContain('<th scope="row">License</th><td><span class="badge">mit</span></td>');
    expect(res.text).toContain('<span class="badge">fraud</span><span class="badge">payments</span>');
    expect(res.text).toContain('<span class="badge">sklearn</span>');
    expect(res.text).not.toContain("license: mit");
    expect(res.text).toContain('<td style="text-align:right">0.96</td>');

    const big = await ready("ui-card", { "README.md": `# Big\n${"x".repeat(256 * 1024)}` });
    const large = await page("GET", `/m/ui-card/v/${big}`, { cookie });
    expect(large.status).toBe(200);
    expect(large.text).toContain(`README.md (${256 * 1024 + 6} bytes) is over the 256 KiB the page renders`);
    expect(large.text).not.toContain("<h3>Big</h3>");
  });

  it("shows the model's aliases, history, versions, gates; the version's lineage, gate dry runs; a diff and the audit log", async () => {
    await createModel("ui-up");
    const up = await ready("ui-up", { "w.bin": "up" }, { lineage: { git_sha: "a".repeat(40), run_id: "run-7" } });
    await createModel("ui-full");
    const v1 = await ready("ui-full", { "cfg.txt": "a\nb\n" }, { metrics: { auc: 0.9 } });
    const v2 = await ready(
      "ui-full",
      { "cfg.txt": "a\nc\n" },
      {
        metrics: { auc: 0.95 },
        lineage: {
          parents: [{ model: "ui-up", version: up }],
          datasets: [{ uri: "s3://d/train" }],
          params: { lr: 0.1 },
        },
      },
    );
    await json("PUT", "/v1/models/ui-full/aliases/production", { body: { version: v1, reason: "first" } });
    await json("PUT", "/v1/models/ui-full/aliases/production", { body: { version: v2, reason: "better" } });
    await json("POST", "/v1/models/ui-full/aliases/production/rollback", { body: { reason: "paged" } });
    await json("PUT", "/v1/models/ui-full/aliases/canary", {
      body: {
        split: [
          { version: v1, weight: 80 },
          { version: v2, weight: 20 },
        ],
      },
    });
    await json("PUT", "/v1/models/ui-full/gates/production", { body: { metrics: [{ name: "auc", min: 0.93 }] } });
    const cookie = await signIn("read");
    const model = await page("GET", "/m/ui-full", { cookie });
    expect(model.status).toBe(200);
    expect(model.text).toContain('data-watch-alias="production"');
    expect(model.text).toContain("v1 80%");
    expect(model.text).toContain("⟲ rollback");
    expect(model.text).toContain("paged");
    // The gate reads as a rule, not JSON.
    expect(model.text).toContain("<li>auc ≥ 0.93</li>");
    expect(model.text).not.toContain("&quot;min&quot;");
    // The metric plot marks the versions aliases hold.
    expect(model.text).toContain('aria-label="auc across versions"');
    expect(model.text).toContain(`<title>v${v1}: auc = 0.9 (canary, production)</title>`);
    const version = await page("GET", `/m/ui-full/v/${v2}`, { cookie });
    expect(version.text).toContain('aria-label="Lineage graph"');
    // Drawn too: a box per version (linking to it) and a line for the parent edge.
    expect(version.text).toContain('<svg class="lineage-graph"');
    expect(version.text).toContain(`<a href="/m/ui-up/v/${up}"><rect`);
    expect(version.text.match(/<line class="edge parent"/g)?.length).toBe(1);
    // The dataset is a node of its own, with an arrow to the version trained on it.
    expect(version.text).toContain('<g class="dataset"><title>dataset s3://d/train</title>');
    expect(version.text.match(/<line class="edge dataset"/g)?.length).toBe(1);
    expect(version.text).toContain('marker-end="url(#lineage-arrow)"');
    expect(version.text).toContain(`ui-up v${up}`);
    expect(version.text).toContain("run-7");
    expect(version.text).toContain("s3://d/train");
    expect(version.text).toContain('production: <span class="ok">passes</span>');
    const v1page = await page("GET", `/m/ui-full/v/${v1}`, { cookie });
    expect(v1page.text).toContain('data-check="metrics.auc" data-passed="false"');
    const diff = await page("GET", `/m/ui-full/diff?a=${v1}&b=${v2}`, { cookie });
    expect(diff.status).toBe(200);
    expect(diff.text).toContain('<span class="del">-b</span>');
    expect(diff.text).toContain('<span class="add">+c</span>');
    const audit = await page("GET", "/audit?model=ui-full&action=rollback", { cookie });
    expect(audit.text).toContain(`production: v${v2} → v${v1} (rollback); gates skipped, reason “paged”`);
    expect(audit.text).not.toContain(">better<");
    expect((await page("GET", "/m/no-such-model", { cookie })).status).toBe(404);
    expect((await page("GET", "/m/ui-full/v/abc", { cookie })).status).toBe(400);
  });

  it("leaves the API's problem+json 404 for unknown /v1 paths", async () => {
    const res = await call("GET", "/v1/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("signatures in the UI", () => {
  it("lists each signature with its signer, the key that vouches and when; marks signed versions; words the gate's check", async () => {
    await createModel("ui-signed");
    const files = (folder: Folder) => ({
      "signme-1": fileText(folder, "signme-1"),
      "signme-2": fileText(folder, "signme-2"),
    });
    const trusted = await ready("ui-signed", files("v1.1.0-elliptic-key"));
    const untrusted = await ready("ui-signed", files("v1.0.1-sigstore"));
    const unsigned = await ready("ui-signed", { "w.bin": "plain" });
    const key = await registerKey({ name: "ui-release", public_key: signingKeyPem });
    try {
      const made = await uploadSignature("ui-signed", trusted, bundleText("v1.1.0-elliptic-key"));
      expect(made.status).toBe(201);
      expect((await uploadSignature("ui-signed", untrusted, bundleText("v1.0.1-sigstore"))).status).toBe(201);
      await json("PUT", "/v1/models/ui-signed/gates/production", { body: { signatures: { keys: ["ui-release"] } } });
      const cookie = await signIn("read");

      const model = await page("GET", "/m/ui-signed", { cookie });
      expect(model.text).toContain("<li>signed by a signer that ui-release vouches for</li>");
      const signedCells = [
        ...model.text.matchAll(/<a href="\/m\/ui-signed\/v\/(\d+)">v\d+<\/a>.*?data-signed="(\w+)"/gs),
      ].map((m) => [Number(m[1]), m[2]]);
      expect(signedCells).toEqual(
        expect.arrayContaining([
          [trusted, "trusted"],
          [untrusted, "untrusted"],
          [unsigned, "none"],
        ]),
      );

      const version = await page("GET", `/m/ui-signed/v/${trusted}`, { cookie });
      expect(version.text).toContain(`data-signature="${made.body.id}" data-trusted="true"`);
      expect(version.text).toContain('<span class="badge ok">ui-release</span>');
      expect(version.text).toContain('<span class="badge">key</span>');
      expect(version.text).toContain('data-check="signatures" data-passed="true"');
      expect(version.text).toContain("1 trusted signature by ui-release; needs 1");
      const sigstore = await page("GET", `/m/ui-signed/v/${untrusted}`, { cookie });
      expect(sigstore.text).toContain("stefanb@us.ibm.com (https://sigstore.verify.ibm.com/oauth2)");
      expect(sigstore.text).toContain("no registered key: valid, untrusted");
      expect(sigstore.text).toContain(
        `no signature trusted by ui-release; needs 1 (version ${untrusted} has 1 signature: 1 trusted by no registered key)`,
      );
      const plain = await page("GET", `/m/ui-signed/v/${unsigned}`, { cookie });
      expect(plain.text).toContain("Not signed.");
      expect(plain.text).toContain(
        `no signature trusted by ui-release; needs 1 (version ${unsigned} has no signature)`,
      );

      // The bundle through the session, byte for byte.
      const bundle = await page("GET", `/m/ui-signed/v/${trusted}/signatures/${made.body.id}`, { cookie });
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get("content-disposition")).toBe("attachment; filename=model.sig");
      expect(bundle.text).toBe(bundleText("v1.1.0-elliptic-key"));

      const audit = await page("GET", "/audit?model=ui-signed&action=signature.add", { cookie });
      expect(audit.text).toContain(`v${trusted} signed by key sha256:`);
      expect(audit.text).toContain(": trusted by 1 key");
      expect(audit.text).toContain(
        `v${untrusted} signed by stefanb@us.ibm.com (https://sigstore.verify.ibm.com/oauth2): untrusted`,
      );
    } finally {
      await deleteKey(key.id);
    }
  });
});

describe("actions", () => {
  it("shows a read-only session no action forms, and refuses its forged posts", async () => {
    await createModel("ui-ro");
    const v = await ready("ui-ro", { "w.bin": "x" });
    await json("PUT", "/v1/models/ui-ro/aliases/production", { body: { version: v } });
    const cookie = await signIn("read");
    const model = await page("GET", "/m/ui-ro", { cookie });
    const version = await page("GET", `/m/ui-ro/v/${v}`, { cookie });
    for (const html of [model.text, version.text]) {
      expect(html).not.toContain("Roll back");
      expect(html).not.toContain("Promote");
      expect(html).not.toContain("/approve");
    }
    const csrf = csrfOf(model.text)!; // the sign-out form's: valid, but the scope is missing
    const forged = await page("POST", "/m/ui-ro/aliases/production/rollback", {
      cookie,
      form: { csrf, reason: "x", confirm: "yes" },
    });
    expect(forged.status).toBe(403);
    expect(forged.text).toContain("promote");
    expect((await json("GET", "/v1/models/ui-ro/aliases/production")).body.version).toBe(v);
  });

  it("refuses posts without the session's CSRF token, even with every scope", async () => {
    await createModel("ui-csrf");
    const v = await ready("ui-csrf", { "w.bin": "x" });
    const cookie = await signIn("read promote approve");
    const forms: Record<string, string>[] = [
      { alias: "production", version: String(v) },
      { alias: "production", version: String(v), csrf: "x".repeat(43) },
    ];
    for (const form of forms) {
      expect((await page("POST", "/m/ui-csrf/promote", { cookie, form })).status).toBe(403);
    }
    // Another session's token does not fit this one.
    const other = await signIn("read promote", "mallory");
    const otherCsrf = csrfOf((await page("GET", "/", { cookie: other })).text)!;
    expect(
      (
        await page("POST", "/m/ui-csrf/promote", {
          cookie,
          form: { alias: "production", version: String(v), csrf: otherCsrf },
        })
      ).status,
    ).toBe(403);
    expect(
      (await page("POST", "/m/ui-csrf/promote", { form: { alias: "production", version: String(v) } })).status,
    ).toBe(401);
    // The right token from the wrong origin is refused too.
    const ownCsrf = csrfOf((await page("GET", "/", { cookie })).text)!;
    const foreign = {
      cookie,
      form: { alias: "production", version: String(v), csrf: ownCsrf },
      headers: { origin: "https://evil.example" },
    };
    expect((await page("POST", "/m/ui-csrf/promote", foreign)).status).toBe(403);
    expect((await json("GET", "/v1/models/ui-csrf/aliases")).body.items).toEqual([]);
  });

  it("promotes through the gate: refused with the failing check, approved, then promoted; rolls back and deletes", async () => {
    await createModel("ui-act");
    const creator = await hsToken({ sub: "trainer" });
    const v1 = await ready("ui-act", { "w.bin": "1" }, { metrics: { auc: 0.95 } }, creator);
    const v2 = await ready("ui-act", { "w.bin": "2" }, { metrics: { auc: 0.96 } }, creator);
    await json("PUT", "/v1/models/ui-act/gates/production", { body: { approvals: 1 } });
    const cookie = await signIn("read promote approve", "oncall");
    const model = await page("GET", "/m/ui-act", { cookie });
    expect(model.text).toContain("Promote… (check gates first)");
    const csrf = csrfOf(model.text)!;
    const dry = await page("GET", `/m/ui-act/promote?alias=production&version=${v1}`, { cookie });
    expect(dry.text).toContain("The gate would refuse this promotion.");
    const refused = await page("POST", "/m/ui-act/promote", {
      cookie,
      form: { csrf, alias: "production", version: String(v1) },
    });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain("Promotion refused");
    expect(refused.text).toContain('data-check="approvals" data-passed="false"');
    const approve = await page("POST", `/m/ui-act/v/${v1}/approve`, {
      cookie,
      form: { csrf, target: "production", comment: "lgtm" },
    });
    expect(approve.status).toBe(303);
    const ok = await page("POST", "/m/ui-act/promote", {
      cookie,
      form: { csrf, alias: "production", version: String(v1), reason: "ship" },
    });
    expect(ok.status).toBe(303);
    // The address names the record the post left (test/ui-oncall.test.ts follows it), never the change.
    expect(ok.headers.get("location")).toMatch(/^\/m\/ui-act\?flash=[0-9a-f]{32}$/);
    // The write's D1 bookmark rides to the next page, which then reads at least that fresh.
    expect(ok.headers.getSetCookie().filter((c) => c.startsWith("mreg_bookmark="))).toEqual([
      expect.stringMatching(/^mreg_bookmark=[0-9a-f-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=60$/),
    ]);
    await json("POST", `/v1/models/ui-act/versions/${v2}/approvals`, { body: { target: "production" } });
    await page("POST", "/m/ui-act/promote", { cookie, form: { csrf, alias: "production", version: String(v2) } });
    expect((await json("GET", "/v1/models/ui-act/aliases/production")).body.version).toBe(v2);
    const unconfirmed = await page("POST", "/m/ui-act/aliases/production/rollback", {
      cookie,
      form: { csrf, reason: "bad" },
    });
    expect(unconfirmed.status).toBe(400);
    const back = await page("POST", "/m/ui-act/aliases/production/rollback", {
      cookie,
      form: { csrf, reason: "latency", confirm: "yes" },
    });
    expect(back.status).toBe(303);
    expect((await json("GET", "/v1/models/ui-act/aliases/production")).body.version).toBe(v1);
    const history = await json("GET", "/v1/models/ui-act/aliases/production/history");
    expect(history.body.items[0]).toMatchObject({ action: "rollback", actor: "oncall", reason: "latency" });
    // production has a gate: the on-call session is not offered its deletion, and a forged one is refused; an admin's passes.
    expect((await page("GET", "/m/ui-act", { cookie })).text).not.toContain("Delete alias production");
    const refusedDelete = await page("POST", "/m/ui-act/aliases/production/delete", {
      cookie,
      form: { csrf, confirm: "yes" },
    });
    expect(refusedDelete.status).toBe(403);
    // Refused on the model page itself, saying why and what to do.
    expect(refusedDelete.text).toContain('data-watch-alias="production"');
    expect(refusedDelete.text).toMatch(/<div class="notice bad" role="alert"><strong>Refused: <\/strong>[^<]*admin/);
    const adminCookie = await signIn("read promote admin", "platform");
    const adminCsrf = csrfOf((await page("GET", "/m/ui-act", { cookie: adminCookie })).text)!;
    const del = await page("POST", "/m/ui-act/aliases/production/delete", {
      cookie: adminCookie,
      form: { csrf: adminCsrf, confirm: "yes" },
    });
    expect(del.status).toBe(303);
    expect((await json("GET", "/v1/models/ui-act/aliases")).body.items).toEqual([]);
  });
});

describe("watch with the session cookie", () => {
  it("upgrades with the cookie from this origin, and refuses another origin", async () => {
    await createModel("ui-watch");
    const v = await ready("ui-watch", { "w.bin": "x" });
    await json("PUT", "/v1/models/ui-watch/aliases/production", { body: { version: v } });
    const cookie = await signIn("read");
    const path = "http://127.0.0.1:8787/v1/models/ui-watch/aliases/production/watch";
    const foreign = await exports.default.fetch(
      new Request(path, { headers: { upgrade: "websocket", cookie, origin: "https://evil.example" } }),
    );
    expect(foreign.status).toBe(403);
    const res = await exports.default.fetch(
      new Request(path, { headers: { upgrade: "websocket", cookie, origin: "http://127.0.0.1:8787" } }),
    );
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const first = await new Promise<string>((resolve) =>
      ws.addEventListener("message", (e) => resolve(String(e.data)), { once: true }),
    );
    expect(JSON.parse(first)).toMatchObject({ event: "current", version: v });
    ws.close();
    // The rest of the API does not take the cookie.
    expect(
      (await exports.default.fetch(new Request("http://127.0.0.1:8787/v1/models/ui-watch", { headers: { cookie } })))
        .status,
    ).toBe(401);
  });
});
