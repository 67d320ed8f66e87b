/**
 * Who may post signals to the agent (docs/agent.md "Local signals"). A signal can roll an
 * alias back for a whole fleet, so the agent's `POST /signals` takes a post only from a
 * client that
 *
 *   - connects over loopback (the agent may listen on 0.0.0.0 for the kubelet's probes, but
 *     signals come from beside it, never over the network),
 *   - names a loopback address or `localhost` in `Host` (a web page whose DNS name was
 *     rebound to 127.0.0.1 sends its own name, and is refused),
 *   - is not a browser (no `Origin`, no `Sec-Fetch-Site`: a page may not post at all), and
 *   - sends the local credential: a random token the agent keeps in `<dir>/.agent/signals.token`,
 *     readable by the agent's user only (0600), as `Authorization: Bearer <token>`.
 *
 * A token file rather than a Unix socket: the model server already shares the agent's
 * directory (it reads `current`), every HTTP client can add a header where few speak HTTP
 * over a Unix socket, and the same listener keeps serving the probes over TCP. The file
 * system says who may read it, as it would say who may open a socket.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { constants } from "node:fs";
import { open, rename } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { join } from "node:path";

export interface LocalCredential {
  token: string;
  /** Where a model server reads it. */
  file: string;
}

const FILE = "signals.token";
/** 32 random bytes, base64url: what the agent writes, and all it will take back from the file. */
const SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The credential in `metaDir`: the one a previous run left, when it is a regular file of
 * this user's that no one else may read or write and holds a token of the agent's making
 * (so a model server that read it keeps working across an agent restart); otherwise a new
 * one, written beside it (created exclusively, 0600) and renamed into place.
 */
export async function localCredential(metaDir: string): Promise<LocalCredential> {
  const file = join(metaDir, FILE);
  const kept = await reusable(file);
  if (kept) return { token: kept, file };
  const token = randomBytes(32).toString("base64url");
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(`${token}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  return { token, file };
}

async function reusable(file: string): Promise<string | null> {
  const posix = process.platform !== "win32";
  let handle;
  try {
    // Not through a link: a symlink planted where the file goes is replaced, never followed.
    handle = await open(file, posix ? constants.O_RDONLY | constants.O_NOFOLLOW : "r");
  } catch {
    return null;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return null;
    if (posix && ((st.mode & 0o077) !== 0 || st.uid !== process.getuid?.())) return null;
    const text = (await handle.readFile("utf8")).trim();
    return SHAPE.test(text) ? text : null;
  } finally {
    await handle.close();
  }
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** Whether `address` (a socket's peer) is a loopback address, IPv4-mapped ones included. */
export function isLoopbackAddress(address: string | undefined): boolean {
  const family = address ? isIP(address) : 0;
  return family !== 0 && loopback.check(address!, family === 4 ? "ipv4" : "ipv6");
}

/** Whether a `Host` header names this host by a loopback address or `localhost` (with or without a port). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host.trim());
  if (!match) return false;
  const name = (match[1] ?? match[2]!).toLowerCase();
  if (name === "localhost" || name === "localhost.") return true;
  // Only an address in its usual spelling: 127.1 or 2130706433 are left to refusal.
  return (match[1] !== undefined ? isIP(name) === 6 : /^\d{1,3}(\.\d{1,3}){3}$/.test(name)) && isLoopbackAddress(name);
}

/** Whether an `Authorization` header carries `token` as a bearer token (compared in constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

export type Refusal = { status: 401 | 403; code: "unauthorized" | "forbidden"; reason: string; detail: string };

/** Why a post to /signals is refused, or null when it may be taken. */
export function refusal(
  req: { remoteAddress: string | undefined; headers: Record<string, string | string[] | undefined> },
  credential: LocalCredential,
): Refusal | null {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (!isLoopbackAddress(req.remoteAddress)) {
    return {
      status: 403,
      code: "forbidden",
      reason: "not_loopback",
      detail: "Signals are taken over loopback only: post to 127.0.0.1 from beside the agent",
    };
  }
  if (!isLoopbackHost(header("host"))) {
    return {
      status: 403,
      code: "forbidden",
      reason: "host",
      detail: "Host must be a loopback address or localhost (a web page whose name points here sends its own)",
    };
  }
  // Browsers send Origin with every POST, and Sec-Fetch-Site; other clients neither (Node's
  // fetch sends Sec-Fetch-Mode, so that one says nothing).
  if (header("origin") !== undefined || header("sec-fetch-site") !== undefined) {
    return { status: 403, code: "forbidden", reason: "browser", detail: "Browsers may not post signals" };
  }
  if (!bearerMatches(header("authorization"), credential.token)) {
    return {
      status: 401,
      code: "unauthorized",
      reason: "credential",
      detail: `Send the agent's local credential, the contents of ${credential.file}, as "Authorization: Bearer <credential>"`,
    };
  }
  return null;
}
