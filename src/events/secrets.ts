/**
 * Webhook secrets: `whsec_<base64 of 24 random bytes>` as Standard Webhooks has them, stored
 * only as AES-256-GCM ciphertext under a key derived from the `WEBHOOK_KEY` Worker secret,
 * with the webhook id as additional data (a ciphertext copied onto another row does not
 * decrypt). A D1 dump alone reveals no secret.
 */
const PREFIX = "whsec_";

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));

export function newSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(24)));
}

/** The HMAC key bytes of a secret: the base64 after `whsec_`. */
export function secretBytes(secret: string): Uint8Array {
  return fromBase64(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret);
}

const keys = new Map<string, Promise<CryptoKey>>();

/** The AES key: SHA-256 of WEBHOOK_KEY (a high-entropy secret, so no slow KDF is needed). */
function aesKey(webhookKey: string): Promise<CryptoKey> {
  let key = keys.get(webhookKey);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", new TextEncoder().encode(`mreg webhook secrets v1\u0000${webhookKey}`))
      .then((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
    keys.set(webhookKey, key);
  }
  return key;
}

/** `v1.<iv>.<ciphertext>`, both base64. */
export async function sealSecret(webhookKey: string, webhookId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(webhookId) },
    await aesKey(webhookKey),
    new TextEncoder().encode(secret),
  );
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function openSecret(webhookKey: string, webhookId: string, sealed: string): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) throw new Error("not a sealed webhook secret");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv), additionalData: new TextEncoder().encode(webhookId) },
    await aesKey(webhookKey),
    fromBase64(data),
  );
  return new TextDecoder().decode(plain);
}
