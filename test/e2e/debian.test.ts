/** The test setup's install of Debian packages (./debian.ts): what it says when it cannot install. */
import { describe, expect, it } from "vitest";
import { CHROMIUM, ensureDebianPackages, installCommand } from "./debian";

describe("the Debian packages the end-to-end tests need", () => {
  it("stops at once without root, naming the exact command to run", () => {
    const missing = { name: "no-such-package", binary: "/nonexistent/no-such-binary", neededBy: "this test" };
    expect(() => ensureDebianPackages([CHROMIUM, missing], { isRoot: false })).toThrow(
      "Missing /nonexistent/no-such-binary (Debian package no-such-package, for this test). Install it, then run the tests again:\n  sudo apt-get update && sudo apt-get install -y no-such-package",
    );
  });

  it("does nothing when the binaries are there", () => {
    expect(() =>
      ensureDebianPackages([{ name: "coreutils", binary: "/bin/sh", neededBy: "nothing" }], { isRoot: false }),
    ).not.toThrow();
    expect(installCommand([CHROMIUM], true)).toBe("apt-get update && apt-get install -y chromium");
  });
});
