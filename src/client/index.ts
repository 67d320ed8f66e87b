/**
 * mreg's typed HTTP client: no dependencies, only fetch, Web Crypto-era globals and streams,
 * so the same code runs in Node 20+, Cloudflare Workers and browsers.
 *
 *   import { MregClient } from "mreg/client";
 *   const mreg = new MregClient({ url: "https://mreg.example.com", token });
 *   const { version } = await mreg.resolve("registry://payment-fraud@production");
 */
export { MregClient, paginate, type ClientOptions } from "./client";
export { MregError, isMregError, type MregErrorCode, type Problem } from "./errors";
export { parseModelUri, type ModelUri, type Poll, type ResolveOptions } from "./aliases";
export type { Download, DownloadOptions, CreatedUpload } from "./files";
export { Sha256, sha256OfStream, type Hasher } from "./sha256";
export { DEFAULT_URL, BOOKMARK_HEADER, type TransportOptions, type FetchLike, type BodySource } from "./transport";
export {
  blobSource,
  bytesSource,
  DEFAULT_MULTIPART_THRESHOLD,
  type ByteSource,
  type UploadOptions,
  type UploadResult,
} from "./upload";
export { TOKEN_EXPIRED, type Watch, type WatchOptions, type WebSocketFactory, type WebSocketLike } from "./watch";
export type * from "./types";
