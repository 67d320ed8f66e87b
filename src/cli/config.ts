/**
 * Where the CLI keeps what outlives a command: the login (a token per registry URL, like
 * `gh`'s hosts file) in the user's config directory, mode 0600; push state and the file hash
 * cache in the user's state directory.
 *
 * URL:   --url, then MREG_URL, then the one `mreg login` chose, then http://127.0.0.1:8787.
 * Token: --token, then MREG_TOKEN, then the one stored for that URL (never another URL's).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { DEFAULT_URL } from "../client/transport";
import { CliError } from "./exit";

export interface StoredConfig {
  /** The registry commands talk to when no --url or MREG_URL says otherwise. */
  current?: string;
  hosts: Record<string, { token?: string; user?: string }>;
}

function baseDir(xdgVar: string, fallback: string[], windowsVar: string): string {
  const xdg = process.env[xdgVar];
  if (xdg) return xdg;
  if (process.platform === "win32" && process.env[windowsVar]) return process.env[windowsVar]!;
  return join(homedir(), ...fallback);
}

/** `$MREG_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mreg`, else `~/.config/mreg` (`%APPDATA%\mreg` on Windows). */
export const configDir = () =>
  process.env.MREG_CONFIG_DIR ?? join(baseDir("XDG_CONFIG_HOME", [".config"], "APPDATA"), "mreg");
/** `$MREG_STATE_DIR`, else `$XDG_STATE_HOME/mreg`, else `~/.local/state/mreg` (`%LOCALAPPDATA%\mreg` on Windows). */
export const stateDir = () =>
  process.env.MREG_STATE_DIR ?? join(baseDir("XDG_STATE_HOME", [".local", "state"], "LOCALAPPDATA"), "mreg");
export const configFile = () => join(configDir(), "config.json");

export function loadConfig(): StoredConfig {
  const file = configFile();
  if (!existsSync(file)) return { hosts: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<StoredConfig>;
    return { current: parsed.current, hosts: parsed.hosts ?? {} };
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
  }
}

/** Writes the config readable by its owner only: it holds bearer tokens. */
export function saveConfig(config: StoredConfig): string {
  const file = configFile();
  writePrivate(file, JSON.stringify(config, null, 2) + "\n");
  return file;
}

/** Writes `text` to `file` atomically (temp file, then rename), mode 0600 in a 0700 directory. */
export function writePrivate(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  // The mode given to writeFileSync is masked by the umask and ignored for an existing file.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

export const normalizeUrl = (url: string) => url.trim().replace(/\/+$/, "");

export interface Resolved {
  url: string;
  token: string | undefined;
  /** Where the token came from, for `whoami` and error hints. */
  tokenSource: "--token" | "MREG_TOKEN" | "config" | "none";
}

export function resolveSettings(flags: { url?: string; token?: string }): Resolved {
  const config = loadConfig();
  const url = normalizeUrl(flags.url ?? process.env.MREG_URL ?? config.current ?? DEFAULT_URL);
  if (flags.token) return { url, token: flags.token, tokenSource: "--token" };
  if (process.env.MREG_TOKEN) return { url, token: process.env.MREG_TOKEN, tokenSource: "MREG_TOKEN" };
  const stored = config.hosts[url]?.token;
  return stored ? { url, token: stored, tokenSource: "config" } : { url, token: undefined, tokenSource: "none" };
}
