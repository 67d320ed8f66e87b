/** The node's trust settings and the refused version's backoff, as pure functions (../../src/cli/verify-version.ts). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../src/cli/agent/plan";
import { UsageError } from "../../src/cli/exit";
import { parseIdentity, trustFromFlags } from "../../src/cli/verify-version";

describe("--trust-identity issuer=…,subject=…", () => {
  it("reads any issuer without a comma and any subject, commas and equals signs included", () => {
    const issuer = fc.string({ minLength: 1 }).filter((s) => !s.includes(","));
    const subject = fc.string({ minLength: 1 });
    fc.assert(
      fc.property(issuer, subject, (i, s) => {
        expect(parseIdentity(`issuer=${i},subject=${s}`)).toEqual({ issuer: i, subject: s });
      }),
    );
  });

  it("refuses what names no issuer or no subject", () => {
    for (const text of ["", "issuer=", "subject=a", "issuer=a", "issuer=a,subject=", "a=b", "subject=a,issuer=b"])
      expect(parseIdentity(text), text).toBeNull();
  });
});

describe("trust from the flags", () => {
  const input = (values: Record<string, string[] | string>) => ({ values, positionals: [] });

  it("is null when no --trust-* is given, and refuses what cannot be trusted as a usage error", async () => {
    expect(await trustFromFlags(input({}), "pull")).toBeNull();
    const refusals: Record<string, string>[] = [
      { "trust-key": "/nonexistent/key.pem" },
      { "trust-identity": "https://accounts.example" },
      { "trusted-root": "/nonexistent/root.json" },
    ];
    for (const r of refusals) {
      const values = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === "trusted-root" ? v : [v]]));
      await expect(trustFromFlags(input(values), "pull"), JSON.stringify(r)).rejects.toBeInstanceOf(UsageError);
    }
    // An identity needs the trusted root its keyless signatures are checked against.
    await expect(
      trustFromFlags(input({ "trust-identity": ["issuer=https://a,subject=me@example.com"] }), "agent"),
    ).rejects.toThrow(/--trusted-root/);
  });
});

describe("a version refused for its signatures", () => {
  it("is looked at again from 30 s, up to every 15 minutes", () => {
    const mid = () => 0.5;
    expect(retryDelayMs("signature", 1, mid)).toBe(30_000);
    expect(retryDelayMs("signature", 3, mid)).toBe(120_000);
    expect(retryDelayMs("signature", 40, mid)).toBe(900_000);
  });
});
