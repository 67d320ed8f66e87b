/**
 * The serving node trusts nothing it is sent: `mreg pull` and `mreg agent` (the real bundle)
 * against a registry that lies (./fake-registry.ts). Every case plants files outside the
 * folder the command may write and checks them afterwards: a version, model or path that
 * would lead outside is refused before anything is written; colliding paths are refused; a
 * wrong sha256, a size that lies, a body that never ends or stops are errors, never a file;
 * and the agent's `current` points at the whole version it had all along.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readerLoop, startAgent, until, type RunningAgent, type Status } from "./agent-helpers";
import {
  endless,
  FakeRegistry,
  honest,
  resolutionOf,
  sha256,
  shiftedRange,
  stalls,
  tooMany,
  unlabelled,
  type FakeFile,
  type FileAnswer,
} from "./fake-registry";
import { mregSpawn, sandbox, type Run } from "./helpers";

const MODEL = "hostile";
const ALIAS = "prod";
const weights: FakeFile = { path: "model.bin", bytes: Buffer.from("the weights of a model that serves\n".repeat(400)) };

const { env, dir: home } = sandbox();
const boxes = mkdtempSync(join(tmpdir(), "mreg-hostile-"));
let reg: FakeRegistry;
const agents: RunningAgent[] = [];

beforeAll(async () => {
  reg = await new FakeRegistry().start();
  env.MREG_URL = reg.url;
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await reg.stop();
  rmSync(boxes, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** A folder for one case: `work/` (where the command may write) beside victims it must not touch. */
function newBox(): { box: string; work: string } {
  const box = mkdtempSync(join(boxes, "box-"));
  mkdirSync(join(box, "work"));
  mkdirSync(join(box, "victim", "keep"), { recursive: true });
  writeFileSync(join(box, "victim", "planted.txt"), "precious\n");
  writeFileSync(join(box, "victim", "keep", "nested.txt"), "also precious\n");
  writeFileSync(join(box, "beside.txt"), "next to the work folder\n");
  return { box, work: join(box, "work") };
}

/** Everything under `root` but the folders in `skip`: path → what it is (file content hash, link target, directory). */
function tree(root: string, skip: readonly string[] = [], prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (skip.includes(rel)) continue;
    const full = join(root, rel);
    const s = lstatSync(full);
    if (s.isSymbolicLink()) out[rel] = `link → ${readlinkSync(full)}`;
    else if (s.isDirectory()) Object.assign(out, { [rel]: "dir" }, tree(root, skip, rel));
    else out[rel] = `file ${sha256(readFileSync(full))}`;
  }
  return out;
}

/** Runs `mreg args…` in `cwd` against the fake; kills it after `timeoutMs` (exit code null then). */
async function run(args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  const { child, out, exited } = mregSpawn(env, args, cwd);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, ...out };
}

let generation = 0;
/** An honest resolution of `files` as `version`, the fake set to serve them honestly. */
function honestVersion(version: number, files: FakeFile[] = [weights]) {
  reg.answer = honest;
  reg.watchMessage = undefined;
  return reg.serve(MODEL, ALIAS, version, ++generation, files);
}

type Resolution = ReturnType<typeof resolutionOf>;
const withFiles = (r: Resolution, files: unknown) => ({ ...r, files });
const file0 = (r: Resolution) => r.files[0]!;
const bytesOf = (s: string) => Buffer.from(s);

/** Answers the client must refuse as they arrive: nothing may be written. */
const INVALID: { name: string; answer: (r: Resolution) => unknown }[] = [
  { name: "a version that climbs out (1/../../escaped)", answer: (r) => ({ ...r, version: "1/../../escaped" }) },
  { name: "version -1", answer: (r) => ({ ...r, version: -1 }) },
  { name: "version 0", answer: (r) => ({ ...r, version: 0 }) },
  { name: "version 1.5", answer: (r) => ({ ...r, version: 1.5 }) },
  { name: 'version "1" (a string)', answer: (r) => ({ ...r, version: "1" }) },
  { name: "version 2^53 + 2 (not a safe integer)", answer: (r) => ({ ...r, version: 2 ** 53 + 2 }) },
  { name: "version 1e21", answer: (r) => ({ ...r, version: 1e21 }) },
  { name: "version 1e9 (no registry URI can name it)", answer: (r) => ({ ...r, version: 1e9 }) },
  { name: "a model other than asked", answer: (r) => ({ ...r, model: "other" }) },
  { name: "a model that climbs out (../escaped)", answer: (r) => ({ ...r, model: "../escaped" }) },
  { name: "an alias other than asked", answer: (r) => ({ ...r, alias: "staging" }) },
  { name: "a uri of another version", answer: (r) => ({ ...r, uri: `registry://${MODEL}/7` }) },
  { name: "a path with ..", answer: (r) => withFiles(r, [{ ...file0(r), path: "../../victim/evil.bin" }]) },
  { name: "an absolute path", answer: (r) => withFiles(r, [{ ...file0(r), path: "/tmp/evil.bin" }]) },
  {
    name: "a path with backslashes",
    answer: (r) => withFiles(r, [{ ...file0(r), path: "sub\\..\\..\\..\\victim\\evil.bin" }]),
  },
  { name: "a path with a . segment", answer: (r) => withFiles(r, [{ ...file0(r), path: "a/./model.bin" }]) },
  { name: "an empty path", answer: (r) => withFiles(r, [{ ...file0(r), path: "" }]) },
  { name: "a path with a NUL", answer: (r) => withFiles(r, [{ ...file0(r), path: "model\u0000.bin" }]) },
  { name: "the same path twice", answer: (r) => withFiles(r, [file0(r), file0(r)]) },
  { name: "a sha256 that is not one", answer: (r) => withFiles(r, [{ ...file0(r), sha256: "../../etc/passwd" }]) },
  { name: "a size of -1", answer: (r) => withFiles(r, [{ ...file0(r), size: -1 }]) },
  { name: 'a size of "10" (a string)', answer: (r) => withFiles(r, [{ ...file0(r), size: "10" }]) },
  { name: "a size of 1.5", answer: (r) => withFiles(r, [{ ...file0(r), size: 1.5 }]) },
  { name: "files that are not a list", answer: (r) => withFiles(r, { "model.bin": 1 }) },
  { name: "a digest that is not one", answer: (r) => ({ ...r, digest: "md5:abc" }) },
  { name: "a split the version is not in", answer: (r) => ({ ...r, split: [{ version: 4, weight: 100 }] }) },
  { name: "an answer that is a list", answer: () => [] },
  { name: "an answer that is null", answer: () => null },
];

/** Versions the client may read (a registry made before the rule may hold them) but no node writes to disk. */
const UNWRITABLE: { name: string; files: FakeFile[]; refusal: RegExp }[] = [
  {
    name: "Model.bin and model.bin",
    files: [weights, { path: "Model.bin", bytes: bytesOf("other bytes\n") }],
    refusal: /would be one file/,
  },
  {
    name: "café in NFC and in NFD",
    files: [
      { path: "caf\u00e9.txt", bytes: bytesOf("nfc\n") },
      { path: "cafe\u0301.txt", bytes: bytesOf("nfd\n") },
    ],
    refusal: /would be one file/,
  },
  {
    name: "a file and a path beneath it",
    files: [
      { path: "model", bytes: bytesOf("a file\n") },
      { path: "MODEL/weights.bin", bytes: bytesOf("beneath it\n") },
    ],
    refusal: /a file and a folder/,
  },
  {
    name: "a name mreg keeps for its partial downloads",
    files: [weights, { path: "model.bin.mreg-partial", bytes: bytesOf("not partial\n") }],
    refusal: /names ending in/,
  },
];

/** Downloads that must fail with nothing under the file's name. */
const BAD_BYTES: { name: string; answer: FileAnswer; edit?: (r: Resolution) => Resolution; refusal: RegExp }[] = [
  {
    name: "a wrong sha256 (the answer's header says so)",
    answer: honest,
    edit: (r) => withFiles(r, [{ ...file0(r), sha256: sha256("other bytes") }]) as Resolution,
    refusal: /serves bytes of sha256 [0-9a-f]{64}, not the/,
  },
  {
    name: "a wrong sha256 (only the bytes say so)",
    answer: unlabelled,
    edit: (r) => withFiles(r, [{ ...file0(r), sha256: sha256("other bytes") }]) as Resolution,
    refusal: /sha256 mismatch/,
  },
  {
    name: "a size that lies high",
    answer: honest,
    edit: (r) => withFiles(r, [{ ...file0(r), size: file0(r).size + 100 }]) as Resolution,
    refusal: /holds \d+ bytes, not the \d+ the version lists/,
  },
  {
    name: "a size that lies low",
    answer: honest,
    edit: (r) => withFiles(r, [{ ...file0(r), size: file0(r).size - 100 }]) as Resolution,
    refusal: /holds \d+ bytes, not the \d+ the version lists/,
  },
  { name: "more bytes than the range", answer: tooMany(10), refusal: /more bytes than/ },
  { name: "a body that never ends", answer: endless, refusal: /more bytes than/ },
  { name: "a Content-Range of other bytes", answer: shiftedRange(5), refusal: /asked for/ },
];

describe("mreg pull against a hostile registry", () => {
  it("pulls an honest version (the fake itself is right)", async () => {
    const { box, work } = newBox();
    honestVersion(1);
    const before = tree(box, ["work"]);
    const r = await run(["pull", `${MODEL}@${ALIAS}`], work);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(work, `${MODEL}-1`, "model.bin"))).toEqual(weights.bytes);
    expect(tree(box, ["work"])).toEqual(before);
  });

  for (const c of INVALID) {
    it(`refuses ${c.name}, and writes nothing`, async () => {
      const { box, work } = newBox();
      reg.resolution = c.answer(honestVersion(1));
      const before = tree(box);
      const r = await run(["pull", `${MODEL}@${ALIAS}`, "--json"], work);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/invalid answer/);
      expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: "invalid_response" } });
      expect(tree(box)).toEqual(before);
    });
  }

  it("refuses a version fetched by number when the registry answers another number", async () => {
    const { box, work } = newBox();
    honestVersion(2);
    const before = tree(box);
    const r = await run(["pull", `${MODEL}/1`], work);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/invalid answer.*version/);
    expect(tree(box)).toEqual(before);
  });

  for (const c of UNWRITABLE) {
    it(`refuses a version holding ${c.name}, and writes nothing`, async () => {
      const { box, work } = newBox();
      honestVersion(1, c.files);
      const before = tree(box);
      const r = await run(["pull", `${MODEL}@${ALIAS}`, join(work, "into")], work);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(c.refusal);
      expect(tree(box)).toEqual(before);
    });
  }

  it("refuses a version holding a file named like its own record (.mreg-pull.json)", async () => {
    const { box, work } = newBox();
    honestVersion(1, [weights, { path: ".mreg-pull.json", bytes: bytesOf('{"files":["../victim/planted.txt"]}') }]);
    const before = tree(box);
    const r = await run(["pull", `${MODEL}@${ALIAS}`], work);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\.mreg-pull\.json/);
    expect(tree(box)).toEqual(before);
  });

  for (const c of BAD_BYTES) {
    it(`fails on ${c.name}: no file under its name, nothing outside the folder`, async () => {
      const { box, work } = newBox();
      const r0 = honestVersion(1);
      if (c.edit) reg.resolution = c.edit(r0);
      reg.answer = c.answer;
      const before = tree(box, ["work"]);
      const r = await run(["pull", `${MODEL}@${ALIAS}`, "--chunk-size", "64KiB"], work);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(c.refusal);
      expect(readdirSync(join(work, `${MODEL}-1`))).not.toContain("model.bin");
      expect(tree(box, ["work"])).toEqual(before);
    });
  }

  it("gives up on a body that stops sending (--stall-timeout), keeping what arrived for a resume", async () => {
    const { box, work } = newBox();
    honestVersion(1);
    reg.answer = stalls;
    const before = tree(box, ["work"]);
    const r = await run(["pull", `${MODEL}@${ALIAS}`, "--stall-timeout", "2"], work);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/no bytes for 2 s/);
    expect(readdirSync(join(work, `${MODEL}-1`))).not.toContain("model.bin");
    expect(tree(box, ["work"])).toEqual(before);
    // The registry behaves again: the same command finishes the file.
    reg.answer = honest;
    const again = await run(["pull", `${MODEL}@${ALIAS}`], work);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(work, `${MODEL}-1`, "model.bin"))).toEqual(weights.bytes);
  });
});

describe("mreg agent against a hostile registry", () => {
  it("keeps serving the whole version it has through every lie, and touches nothing outside --dir", async () => {
    const { box } = newBox();
    const agentDir = join(box, "agent");
    honestVersion(1);
    const agent = await startAgent(env, `registry://${MODEL}@${ALIAS}`, agentDir, [
      "--stall-timeout",
      "3",
      "--chunk-size",
      "64KiB",
    ]);
    agents.push(agent);
    const settle = async (test: (s: Status) => boolean, what: string) => {
      let last: Status | undefined;
      try {
        // A lie the agent fell for ends the wait too (current moved, a version appeared, a
        // victim changed), so the assertions below say what went wrong at once.
        await until(
          async () =>
            test((last = await agent.status())) || last.version !== 1 || versionsHeld().join() !== "v1" || changed(),
          what,
        );
      } catch (err) {
        throw new Error(
          `${(err as Error).message}; last status: ${JSON.stringify(last)}\nagent stderr:\n${agent.out.stderr}`,
        );
      }
      return last!;
    };
    const versionsHeld = () => readdirSync(join(agentDir, "versions")).sort();
    await until(async () => (await agent.status()).version === 1, "v1 to be served");
    const outside = tree(box, ["agent"]);
    const changed = () => JSON.stringify(tree(box, ["agent"])) !== JSON.stringify(outside);
    const whole = new Map([[1, new Map([[weights.path, sha256(weights.bytes)]])]]);
    const reader = readerLoop(agentDir, whole);

    const stillServingV1 = (s: Status, what: string) => {
      expect(s.version, what).toBe(1);
      expect(readlinkSync(join(agentDir, "current")), what).toBe("versions/v1");
      expect(versionsHeld(), what).toEqual(["v1"]);
      expect(tree(box, ["agent"]), what).toEqual(outside);
    };
    const backToHonest = async (what: string) => {
      honestVersion(1);
      await settle(
        (s) => s.reasons.length === 0 && s.target?.version === 1,
        `the agent to hear the honest registry after ${what}`,
      );
    };

    // From versions/ three levels up is the box: the victim beside --dir.
    const climbsOutOfDir = {
      name: "a version that climbs out of --dir (1/../../../victim)",
      answer: (r: Resolution) => ({ ...r, version: "1/../../../victim" }),
    };
    for (const c of [climbsOutOfDir, ...INVALID]) {
      const hostile = c.answer(resolutionOf(MODEL, ALIAS, 1, ++generation, [weights]));
      reg.resolution = hostile;
      const s = await settle((st) => st.reasons.some((r) => /invalid answer/.test(r)), `the agent to refuse ${c.name}`);
      stillServingV1(s, c.name);
      await backToHonest(c.name);
    }

    // The same lies over the watch socket, which the agent prefers to polls.
    for (const c of [climbsOutOfDir, ...INVALID.filter((i) => /string|other than asked|with \.\./.test(i.name))]) {
      reg.watchMessage = {
        event: "set",
        ...(c.answer(resolutionOf(MODEL, ALIAS, 1, ++generation, [weights])) as object),
      };
      const mark = agent.out.stderr.length;
      const s = await settle(
        () => /watch[^\n]*invalid answer/.test(agent.out.stderr.slice(mark)),
        `the agent to refuse ${c.name} over the watch`,
      );
      stillServingV1(s, `${c.name} (watch)`);
      await backToHonest(`${c.name} (watch)`);
    }

    let version = 1;
    for (const c of UNWRITABLE) {
      const n = ++version;
      honestVersion(n, c.files);
      const s = await settle(
        (st) => st.retry?.version === n && c.refusal.test(st.retry.reason),
        `the agent to refuse v${n} (${c.name})`,
      );
      stillServingV1(s, c.name);
      await backToHonest(c.name);
    }

    for (const c of [
      ...BAD_BYTES,
      { name: "a body that stops", answer: stalls, refusal: /no bytes for 3 s/, edit: undefined },
    ]) {
      const n = ++version;
      // Bytes the agent does not hold yet, so it must download them (it links what it holds).
      const r = honestVersion(n, [{ path: "model.bin", bytes: Buffer.from(`the weights of v${n}\n`.repeat(500)) }]);
      if (c.edit) reg.resolution = c.edit(r);
      reg.answer = c.answer;
      const s = await settle(
        (st) => st.retry?.version === n && c.refusal.test(st.retry.reason),
        `the agent to fail v${n} (${c.name})`,
      );
      stillServingV1(s, c.name);
      expect(readdirSync(join(agentDir, ".incoming", `v${n}`)), c.name).not.toContain("model.bin");
      await backToHonest(c.name);
    }

    // Through all that, the agent still takes an honest new version.
    const next: FakeFile = { path: "model.bin", bytes: Buffer.from("the next weights\n".repeat(300)) };
    const last = ++version;
    whole.set(last, new Map([[next.path, sha256(next.bytes)]]));
    honestVersion(last, [next]);
    await until(async () => (await agent.status()).version === last, `v${last} to be served`);
    await reader.stop();
    expect(reader.violations).toEqual([]);
    expect(reader.seen.get(1)).toBeGreaterThan(0);
    expect(tree(box, ["agent"])).toEqual(outside);
  });
});
