// The upload baseline: the least a Worker can do to put a request body into R2. It streams
// the body straight into `put` (the body's Content-Length gives R2 its known length).
export default {
  async fetch(request, env) {
    if (request.method !== "PUT") return new Response("PUT a body", { status: 405 });
    const key = new URL(request.url).pathname.slice(1) || "object";
    const object = await env.BUCKET.put(key, request.body);
    return Response.json({ key, size: object.size });
  },
};
