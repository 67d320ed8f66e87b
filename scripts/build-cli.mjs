#!/usr/bin/env node
// Bundles the `mreg` command (src/cli, with src/client and `ws`) into one JavaScript file,
// dist/mreg.mjs (and the client alone into dist/client.mjs): the system Node (20) cannot run TypeScript, and a bundle needs no
// node_modules at run time, so `npm install -g .` works wherever the checkout is.
// `npm ci` runs this as the `prepare` script; `npm run build:cli` runs it by hand.
import { build } from "esbuild";
import { chmodSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

await build({
  entryPoints: [join(root, "src/cli/entry/bin.ts")],
  outfile: join(root, "dist/mreg.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // ws loads these native speed-ups inside try/catch when present; the bundle goes without.
  external: ["bufferutil", "utf-8-validate"],
  banner: {
    // ws is CommonJS: its require() calls of Node built-ins need a require in an ES module.
    js: '#!/usr/bin/env node\nimport { createRequire as __mregRequire } from "node:module";\nconst require = __mregRequire(import.meta.url);',
  },
  define: { __MREG_VERSION__: JSON.stringify(version) },
  legalComments: "none",
  logLevel: "warning",
});
chmodSync(join(root, "dist/mreg.mjs"), 0o755);

// The typed client as plain JavaScript too (dist/client.mjs), for the benchmarks and for
// users' JavaScript: `import { MregClient } from "mreg/client"`. No platform code in it.
await build({
  entryPoints: [join(root, "src/client/index.ts")],
  outfile: join(root, "dist/client.mjs"),
  bundle: true,
  platform: "neutral",
  target: "es2022",
  format: "esm",
  legalComments: "none",
  logLevel: "warning",
});
