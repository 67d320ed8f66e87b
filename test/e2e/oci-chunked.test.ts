/**
 * A blob chunk sent with `Transfer-Encoding: chunked` and no `Content-Length`, on the wire, as
 * containers/image sends a blob whose size it does not know (docs/oci.md "Pushing";
 * src/bridges/oci/streamed-body.ts): node's http writes the body in pieces with no length, the
 * real `npm start` takes it as it streams, and the blob reads back whole.
 */
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, token, type Server } from "./server";

const MiB = 1024 * 1024;
let server: Server;
let admin: string;

beforeAll(async () => {
  // Parts of 5 MiB and a zone limit of 6 MiB (the least the other settings allow).
  server = await startServer([
    "--var",
    `UPLOAD_PART_SIZE:${5 * MiB}`,
    "--var",
    `MAX_SINGLE_PUT:${5 * MiB}`,
    "--var",
    `ZONE_BODY_LIMIT:${6 * MiB}`,
  ]);
  admin = token("oci-chunked", "read write promote admin");
}, 180_000);

afterAll(() => server?.stop());

/** A request whose body node writes in `pieces` with chunked transfer encoding: no Content-Length. */
function chunked(
  method: string,
  path: string,
  pieces: Buffer[],
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.base}${path}`,
      { method, headers: { authorization: `Bearer ${admin}`, "transfer-encoding": "chunked" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

async function api(method: string, path: string, body?: unknown) {
  return fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

const cut = (bytes: Buffer, size: number) =>
  Array.from({ length: Math.ceil(bytes.byteLength / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

describe("OCI chunks without Content-Length, over HTTP", () => {
  it("a chunked PATCH with the whole blob, then PUT ?digest=: pushed and read back; past the zone's limit, SIZE_INVALID and the upload goes on", async () => {
    expect((await api("POST", "/v1/models", { name: "oci-chunked" })).status).toBe(201);
    // 5.5 MiB: one part and a piece past it, under the 6 MiB limit.
    const blob = randomBytes(5 * MiB + 512 * 1024);
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const opened = await api("POST", "/v2/oci-chunked/blobs/uploads/");
    expect(opened.status).toBe(202);
    const patched = await chunked("PATCH", opened.headers.get("location")!, cut(blob, 300 * 1024 + 7));
    expect(patched.status, patched.body).toBe(202);
    expect(patched.headers.range).toBe(`0-${blob.byteLength - 1}`);
    const done = await api("PUT", `${patched.headers.location as string}?digest=${digest}`);
    expect(done.status, await done.clone().text()).toBe(201);
    const read = await api("GET", `/v2/oci-chunked/blobs/${digest}`);
    expect(Buffer.from(await read.arrayBuffer()).equals(blob)).toBe(true);

    // 11 MiB in one chunked PATCH: the first 5 MiB piece is taken, the next passes the limit.
    const big = randomBytes(11 * MiB);
    const bigDigest = `sha256:${createHash("sha256").update(big).digest("hex")}`;
    const location = (await api("POST", "/v2/oci-chunked/blobs/uploads/")).headers.get("location")!;
    const refused = await chunked("PATCH", location, cut(big, MiB));
    expect(refused.status, refused.body).toBe(400);
    expect((JSON.parse(refused.body) as { errors: { code: string }[] }).errors[0]!.code).toBe("SIZE_INVALID");
    expect((await api("GET", location)).headers.get("range")).toBe(`0-${5 * MiB - 1}`);
    // The rest as the final PUT's chunked body, under the limit: the blob is whole.
    const finished = await chunked("PUT", `${location}?digest=${bigDigest}`, cut(big.subarray(5 * MiB), MiB));
    expect(finished.status, finished.body).toBe(201);
    const readBig = await api("GET", `/v2/oci-chunked/blobs/${bigDigest}`);
    expect(Buffer.from(await readBig.arrayBuffer()).equals(big)).toBe(true);
  });
});
