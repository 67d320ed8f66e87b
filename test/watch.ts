/** Watch sockets in tests: open one through the Worker and collect what it hears. */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { SignatureRef } from "../src/domain/signature";
import { hsToken } from "./helpers";
import { until } from "./until";

/** A watch message: the Resolution's fields at the top level, plus `event`. */
export interface WatchMessage {
  event: string;
  model: string;
  alias: string;
  generation: number;
  version: number | null;
  digest: string | null;
  files: { path: string }[] | null;
  uri: string | null;
  signatures: SignatureRef[] | null;
}

/** Opens a watch socket and collects its messages. */
export async function watch(model: string, alias: string, key?: string, token?: string) {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test/v1/models/${model}/aliases/${alias}/watch${key ? `?key=${key}` : ""}`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${token ?? (await hsToken({ scope: "read" }))}` },
    }),
  );
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const messages: { message: WatchMessage }[] = [];
  const closed: { code?: number } = {};
  ws.addEventListener("close", (e) => (closed.code = e.code));
  ws.addEventListener("message", (e) => messages.push({ message: JSON.parse(e.data as string) as WatchMessage }));
  ws.accept();
  return {
    messages,
    closed,
    /** The first `count` messages, once they have come. */
    async next(count: number) {
      await until(() => messages.length >= count || closed.code !== undefined, `${count} watch messages`);
      return messages.slice(0, count);
    },
    close: () => ws.close(1000, "done"),
  };
}
