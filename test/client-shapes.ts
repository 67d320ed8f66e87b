/**
 * The typed client's shapes against the server's, checked by `npm run typecheck` (tsc reads
 * this file through the root tsconfig; nothing here runs). The client's types
 * (src/client/types.ts) are written by hand so that the client stays free of zod and of
 * server code; each must equal the output type of the zod schema the server answers with,
 * or for a request body the schema's input type. A drift on either side fails the typecheck
 * with the shape's name on the failing line.
 *
 * Below them, the server's own hand-written types that sit beside a schema instead of being
 * derived from it.
 */
import type { z } from "zod";
import type * as Client from "../src/client/types";
import type { Alias, HistoryEntry, Resolution, StageBody } from "../src/aliases/schemas";
import type { Upload, UploadPartBody } from "../src/artifacts/schemas";
import type { AliasAt } from "../src/domain/alias";
import type { Fleet, Node, NodeReportBody } from "../src/domain/fleet";
import type { AuditEvent } from "../src/audit/routes";
import type { GatePolicy } from "../src/domain/gate";
import type { Guard, GuardBody } from "../src/domain/guard";
import type { RetentionPolicy } from "../src/domain/retention";
import type { CreateSigningKeyBody, Signature, SignatureRef, Signer, SigningKey } from "../src/domain/signature";
import type { Rollout } from "../src/domain/rollout";
import type { StartRolloutBody } from "../src/rollouts/routes";
import type { CreateWebhookBody, Delivery, PatchWebhookBody, Webhook } from "../src/events/routes";
import type { Approval, Gate, GateResult } from "../src/gates/schemas";
import type { SignalBody } from "../src/guards/routes";
import type { LineageGraph, LookupItem, VersionDiff } from "../src/lineage/schemas";
import type {
  CreateModelBody,
  CreateVersionBody,
  File,
  Lineage,
  Model,
  PatchModelBody,
  PatchVersionBody,
  Version,
} from "../src/models/schemas";
import type { ResolutionWithLineage } from "../src/resolve/routes";
import type { ModelRetention, RetentionPreview } from "../src/retention/schemas";
import type { AliasBody, HistoryEntry as StateHistoryEntry } from "../src/state/alias-table";
import type { WatchMessage } from "../src/state/watch";
import type { CreateTokenBody, MintedToken, Token } from "../src/tokens/routes";

/** A type with every object spelled out member by member: an interface, an intersection and an alias of the same members compare alike. */
type Normalize<T> = T extends readonly (infer U)[]
  ? Normalize<U>[]
  : T extends object
    ? { [K in keyof T]: Normalize<T[K]> }
    : T;

/** True only when A and B are the same type, not merely assignable one way (optional, nullable and literal members count). */
export type Equal<A, B> =
  (<T>() => T extends Normalize<A> ? 1 : 2) extends <T>() => T extends Normalize<B> ? 1 : 2 ? true : false;
type Not<T extends boolean> = T extends true ? false : true;
type Expect<T extends true> = T;

type Out<S extends z.ZodType> = z.output<S>;
type In<S extends z.ZodType> = z.input<S>;

/** Equal itself: it tells the drifts apart that this file exists to catch. */
export type EqualSelfChecks = [
  Expect<Equal<{ a: string; b?: number }, { a: string } & { b?: number | undefined }>>,
  Expect<Not<Equal<{ a?: number }, { a: number }>>>,
  Expect<Not<Equal<{ a: number | null }, { a: number }>>>,
  Expect<Not<Equal<{ a: "x" | "y" }, { a: string }>>>,
  Expect<Not<Equal<{ a: string }, { a: string; b: string }>>>,
  Expect<Not<Equal<{ a: { b?: number }[] }, { a: { b: number }[] }>>>,
  Expect<Not<Equal<{ a: unknown }, { a: string }>>>,
];

/** What the server answers: the client's type equals the schema's output. */
export type ResponseShapes = [
  Expect<Equal<Client.Model, Out<typeof Model>>>,
  Expect<Equal<Client.Version, Out<typeof Version>>>,
  Expect<Equal<Client.Lineage, Out<typeof Lineage>>>,
  Expect<Equal<Client.FileEntry, Out<typeof File>>>,
  Expect<Equal<Client.Upload, Out<typeof Upload>>>,
  Expect<Equal<Client.UploadPart, Out<typeof UploadPartBody>>>,
  Expect<Equal<Client.Alias, Out<typeof Alias>>>,
  Expect<Equal<Client.HistoryEntry, Out<typeof HistoryEntry>>>,
  Expect<Equal<Omit<Client.Resolution, "lineage" | "version_detail" | "alias_detail">, Out<typeof Resolution>>>,
  Expect<Equal<Client.Resolution, Out<typeof ResolutionWithLineage>>>,
  Expect<Equal<Client.GateResult, Out<typeof GateResult>>>,
  Expect<Equal<Client.Gate, Out<typeof Gate>>>,
  Expect<Equal<Client.Approval, Out<typeof Approval>>>,
  Expect<Equal<Client.Guard, Out<typeof Guard>>>,
  Expect<Equal<Client.Rollout, Out<typeof Rollout>>>,
  Expect<Equal<Client.LineageGraph, Out<typeof LineageGraph>>>,
  Expect<Equal<Client.LineageHit, Out<typeof LookupItem>>>,
  Expect<Equal<Client.VersionDiff, Out<typeof VersionDiff>>>,
  Expect<Equal<Client.AuditEvent, Out<typeof AuditEvent>>>,
  Expect<Equal<Client.Token, Out<typeof Token>>>,
  Expect<Equal<Client.MintedToken, Out<typeof MintedToken>>>,
  Expect<Equal<Client.Webhook, Out<typeof Webhook>>>,
  Expect<Equal<Client.Delivery, Out<typeof Delivery>>>,
  Expect<Equal<Client.RetentionPolicy, Out<typeof RetentionPolicy>>>,
  Expect<Equal<Client.ModelRetention, Out<typeof ModelRetention>>>,
  Expect<Equal<Client.RetentionPreview, Out<typeof RetentionPreview>>>,
  Expect<Equal<Client.Signature, Out<typeof Signature>>>,
  Expect<Equal<Client.SignatureRef, Out<typeof SignatureRef>>>,
  Expect<Equal<Client.Signer, Out<typeof Signer>>>,
  Expect<Equal<Client.SigningKey, Out<typeof SigningKey>>>,
  Expect<Equal<Client.Fleet, Out<typeof Fleet>>>,
  Expect<Equal<Client.FleetNode, Out<typeof Node>>>,
  Expect<Equal<Client.AliasAt, Out<typeof AliasAt>>>,
  // Watch messages have no schema (they are not HTTP answers): every one the object sends must be a WatchEvent.
  Expect<WatchMessage extends Client.WatchEvent ? true : false>,
];

/** What the server accepts: the client's body type equals the schema's input. */
export type RequestShapes = [
  Expect<Equal<Client.CreateModel, In<typeof CreateModelBody>>>,
  Expect<Equal<Client.PatchModel, In<typeof PatchModelBody>>>,
  Expect<Equal<Client.CreateVersion, In<typeof CreateVersionBody>>>,
  Expect<Equal<Client.PatchVersion, In<typeof PatchVersionBody>>>,
  Expect<Equal<Client.StageChange, In<typeof StageBody>>>,
  Expect<Equal<Client.GatePolicy, In<typeof GatePolicy>>>,
  Expect<Equal<Client.GuardPolicy, In<typeof GuardBody>>>,
  Expect<Equal<Client.StartRollout, In<typeof StartRolloutBody>>>,
  Expect<Equal<Client.Signal, In<typeof SignalBody>>>,
  Expect<Equal<Client.NodeReport, In<typeof NodeReportBody>>>,
  Expect<Equal<Client.RetentionPolicy, In<typeof RetentionPolicy>>>,
  Expect<Equal<Client.CreateToken, In<typeof CreateTokenBody>>>,
  Expect<Equal<Client.CreateWebhook, In<typeof CreateWebhookBody>>>,
  Expect<Equal<Client.CreateSigningKey, In<typeof CreateSigningKeyBody>>>,
  Expect<Equal<Client.PatchWebhook, In<typeof PatchWebhookBody>>>,
];

/** The server's hand-written types beside a schema (ModelState's, which must not import the routes' schemas). */
export type ServerShapes = [
  Expect<Equal<AliasBody, Out<typeof Alias>>>,
  Expect<Equal<StateHistoryEntry, Out<typeof HistoryEntry>>>,
];
