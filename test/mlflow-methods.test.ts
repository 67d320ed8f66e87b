/**
 * Issue 33, item 5: a method an MLflow endpoint does not take is answered in words that name
 * both methods ("takes GET, not POST"), with `Allow`, and keeps the code MLflow's client moves
 * on from (`call_endpoints` tries an endpoint's next method on ENDPOINT_NOT_FOUND).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { call } from "./helpers";

const TAKES: Record<string, string[]> = {
  "registered-models/create": ["POST"],
  "registered-models/get": ["GET"],
  "registered-models/update": ["PATCH"],
  "registered-models/delete": ["DELETE"],
  "registered-models/search": ["GET"],
  "registered-models/get-latest-versions": ["POST", "GET"],
  "registered-models/alias": ["POST", "DELETE", "GET"],
  "model-versions/create": ["POST"],
  "model-versions/get": ["GET"],
  "model-versions/transition-stage": ["POST"],
  "model-versions/get-download-uri": ["GET"],
};
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

describe("a wrong method on the MLflow bridge", () => {
  it("names the methods the endpoint takes and the one sent, keeping ENDPOINT_NOT_FOUND", async () => {
    const wrong = Object.entries(TAKES).flatMap(([endpoint, takes]) =>
      METHODS.filter((m) => !takes.includes(m)).map((method) => ({ endpoint, takes, method })),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...wrong), async ({ endpoint, takes, method }) => {
        const res = await call(method, `/api/2.0/mlflow/${endpoint}`, method === "GET" ? {} : { body: {} });
        const body = (await res.json()) as { error_code: string; message: string };
        expect(res.status).toBe(404);
        expect(body.error_code).toBe("ENDPOINT_NOT_FOUND");
        expect(body.message.startsWith(`${endpoint} takes ${takes.join(" or ")}, not ${method}: `)).toBe(true);
        expect(res.headers.get("allow")).toBe(takes.join(", "));
      }),
      { numRuns: 30 },
    );
    const search = await call("POST", "/api/2.0/mlflow/registered-models/search", { body: {} });
    expect(((await search.json()) as { message: string }).message).toBe(
      "registered-models/search takes GET, not POST: a GET sends its fields in the query string, the other methods in a JSON body",
    );
  });

  it("names the method on mlflow-artifacts too, which serves downloads only", async () => {
    for (const method of ["PUT", "POST", "DELETE"]) {
      const res = await call(method, "/api/2.0/mlflow-artifacts/artifacts/models/m/versions/1/model.pkl", {
        rawBody: "x",
      });
      const body = (await res.json()) as { error_code: string; message: string };
      expect([res.status, body.error_code]).toEqual([404, "ENDPOINT_NOT_FOUND"]);
      expect(body.message).toMatch(
        new RegExp(`^mlflow-artifacts/artifacts takes GET, not ${method}: .*downloads only`),
      );
      expect(res.headers.get("allow")).toBe("GET");
    }
  });
});
