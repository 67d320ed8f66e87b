/**
 * `mreg pull <uri> <dir>`: resolve, then download each file in ranges (several in flight),
 * resumably, checking its sha256 before it lands under its name (../download.ts).
 */
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { parseModelUri } from "../../client/aliases";
import { int, size, str, type Command } from "../command";
import { DEFAULT_CHUNK, downloadFile, type Fetched } from "../download";
import { UsageError } from "../exit";
import { progress } from "../progress";

/** `registry://m@a`, `registry://m/3`, or the same without the scheme. */
export function normalizeUri(arg: string): string {
  const uri = arg.startsWith("registry://") ? arg : `registry://${arg}`;
  parseModelUri(uri);
  return uri;
}

export const pull: Command = {
  name: "pull",
  args: "<uri> [dir]",
  summary: "Download a version's files by URI (ranged, resumable, sha256-verified)",
  options: {
    key: { type: "string" },
    parallel: { type: "string" },
    "chunk-size": { type: "string" },
  },
  help: [
    "--key KEY          Routing key, for an alias that is a split",
    "--parallel N       Ranges in flight per file (default 4)",
    "--chunk-size SIZE  Range size (default 32MiB)",
    "dir defaults to ./<model>-<version>",
  ],
  examples: ["mreg pull registry://payment-fraud@production ./model", "mreg pull payment-fraud/3 --json"],
  async run(ctx, input) {
    const uri = normalizeUri(input.positionals[0]!);
    const parallel = int(input, "parallel", { min: 1, max: 32 }) ?? 4;
    const chunkSize = size(input, "chunk-size") ?? DEFAULT_CHUNK;
    if (chunkSize < 64 * 1024) throw new UsageError("--chunk-size must be at least 64KiB", "pull");
    const key = str(input, "key");
    const resolution = await ctx.client.resolve(uri, key ? { key } : {});
    const dir = resolve(input.positionals[1] ?? `${resolution.model}-${resolution.version}`);
    ctx.out.note(`${uri} → registry://${resolution.model}/${resolution.version} (${resolution.files.length} files)`);
    await mkdir(dir, { recursive: true });
    const pulled: Fetched[] = [];
    const options = { parallel, chunkSize, note: (m: string) => ctx.out.note(m), progress: (label: string, total: number, start: number) => progress(ctx.out, label, total, start) };
    for (const file of resolution.files) pulled.push(await downloadFile(ctx.client, resolution, file, dir, options));
    const summary = {
      uri,
      model: resolution.model,
      version: resolution.version,
      digest: resolution.digest,
      dir,
      bytes_received: pulled.reduce((s, f) => s + f.bytes_received, 0),
      files: pulled,
    };
    ctx.out.result(summary, () => dir);
  },
};
