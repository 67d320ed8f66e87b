/**
 * RFC 9457 problem+json: how a contract error (src/domain/problem.ts) is answered over HTTP.
 * The app's error handler turns every ProblemError into this response.
 */
import { statusOf, type ErrorCode } from "../domain/problem";

const TITLE: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function problemBody(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
  const status = statusOf(code);
  return { type: "about:blank", title: TITLE[status] ?? "Error", status, code, detail, ...extra };
}

export function problemResponse(
  code: ErrorCode,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: HeadersInit = {},
): Response {
  const body = problemBody(code, detail, extra);
  const h = new Headers(headers);
  h.set("content-type", "application/problem+json");
  if (code === "unauthenticated" && !h.has("www-authenticate")) {
    h.set("www-authenticate", 'Bearer realm="mreg"');
  }
  return new Response(JSON.stringify(body), { status: body.status, headers: h });
}
