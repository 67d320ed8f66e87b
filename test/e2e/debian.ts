/**
 * Debian packages the end-to-end tests drive (Chromium for the web UI, skopeo for the OCI
 * bridge): installed by the test setup when missing, so `npm test` passes on a fresh
 * machine by itself. Installing needs root; without it the run stops at once and says the
 * exact command to run, instead of failing later in a confusing way.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface DebianPackage {
  /** The package name for apt-get. */
  name: string;
  /** The executable the tests run; present means installed. */
  binary: string;
  /** What needs it, for the error message. */
  neededBy: string;
}

/** The command a person would run to install `packages`. */
export function installCommand(packages: readonly DebianPackage[], asRoot: boolean): string {
  const sudo = asRoot ? "" : "sudo ";
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.map((p) => p.name).join(" ")}`;
}

/** Installs the packages whose binaries are missing (as root, with apt-get); throws with the exact command otherwise. */
export function ensureDebianPackages(
  packages: readonly DebianPackage[],
  { isRoot = process.getuid?.() === 0 } = {},
): void {
  const missing = packages.filter((p) => !existsSync(p.binary));
  if (missing.length === 0) return;
  const what = missing.map((p) => `${p.binary} (Debian package ${p.name}, for ${p.neededBy})`).join("; ");
  if (!isRoot || !existsSync("/usr/bin/apt-get")) {
    throw new Error(`Missing ${what}. Install it, then run the tests again:\n  ${installCommand(missing, false)}`);
  }
  console.log(`Installing ${what} with apt-get (once per machine)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", "--no-install-recommends", ...missing.map((p) => p.name)],
  ]) {
    const run = spawnSync("apt-get", args, { env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (run.status !== 0) {
      throw new Error(
        `apt-get ${args.join(" ")} failed (exit ${run.status}):\n${run.stdout}${run.stderr}\nInstall it by hand:\n  ${installCommand(missing, true)}`,
      );
    }
  }
  const still = missing.filter((p) => !existsSync(p.binary));
  if (still.length > 0)
    throw new Error(`apt-get finished but ${still.map((p) => p.binary).join(", ")} is still missing`);
}

/** Debian's Chromium, which playwright-core drives in test/e2e/ui.test.ts. */
export const CHROMIUM: DebianPackage = {
  name: "chromium",
  binary: "/usr/bin/chromium",
  neededBy: "the web UI's browser tests",
};
/** Debian's skopeo, which test/e2e/oci-skopeo.test.ts drives against the OCI bridge. */
export const SKOPEO: DebianPackage = {
  name: "skopeo",
  binary: "/usr/bin/skopeo",
  neededBy: "the OCI bridge's skopeo tests",
};
/** Debian's openssl, the second independent oracle of test/node/signatures-oracle.test.ts. */
export const OPENSSL: DebianPackage = {
  name: "openssl",
  binary: "/usr/bin/openssl",
  neededBy: "the signature verifier's openssl oracle",
};
