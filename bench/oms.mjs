// The OMS verifier and signer (src/signatures/verify.ts) and the synthetic signed model
// (test/oms-synthetic.ts) for benchmarks, which run as plain JavaScript on Node: esbuild
// bundles both into memory, as scripts/build-cli.mjs bundles the CLI, and the module is
// imported from that text. Used by bench/signatures.mjs, and by the registry's upload bench
// for a 10,000-file version and a bundle signed for it:
//
//   const oms = await loadOms();
//   const { files, fileMap, key, bundle } = await oms.signedSyntheticModel(10_000);
//   // files: [{path, bytes, sha256}] to upload; key.publicKeyPem to register; bundle to POST
import { build } from "esbuild";
import { join } from "node:path";
import { root } from "./lib.mjs";

let loaded;

export function loadOms() {
  loaded ??= (async () => {
    const result = await build({
      stdin: {
        contents: 'export * from "./src/signatures/verify.ts"; export * from "./test/oms-synthetic.ts";',
        resolveDir: root,
        sourcefile: "oms-bench-entry.ts",
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      write: false,
      logLevel: "warning",
    });
    const text = result.outputFiles[0].text;
    return import(`data:text/javascript;base64,${Buffer.from(text).toString("base64")}`);
  })();
  return loaded;
}

/** The model-signing fixtures' folder (test/fixtures/model-signing, README there). */
export const fixtures = join(root, "test/fixtures/model-signing");
