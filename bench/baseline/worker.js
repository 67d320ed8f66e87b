// The upload baseline: the least a Worker can do to put a request body into R2. It streams
// the body straight into `put` (the body's Content-Length gives R2 its known length).
// With `?reread=1` it then reads the object back through SHA-256, as mreg's `complete`
// must: the same verification with nothing else around it, to tell mreg's overhead apart
// from what the local R2 simulator costs.
export default {
  async fetch(request, env) {
    if (request.method !== "PUT") return new Response("PUT a body", { status: 405 });
    const url = new URL(request.url);
    const key = url.pathname.slice(1) || "object";
    const object = await env.BUCKET.put(key, request.body);
    let sha256;
    if (url.searchParams.get("reread") === "1") {
      const stored = await env.BUCKET.get(key);
      const digest = new crypto.DigestStream("SHA-256");
      await stored.body.pipeTo(digest);
      sha256 = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    }
    return Response.json({ key, size: object.size, sha256 });
  },
};
