/**
 * Requests the Worker makes to itself on behalf of an already-authenticated caller (the web
 * UI calls the JSON API through the typed client, so every page goes through the same routes,
 * scope checks and model globs as the API). The principal travels with the Request object in
 * a WeakMap: nothing on the wire can set it, so it cannot be forged from outside.
 */
import type { Principal } from "./principal";

const internal = new WeakMap<Request, Principal>();

/** Marks a request this isolate built as made by `principal`. */
export function actAs(request: Request, principal: Principal): Request {
  internal.set(request, principal);
  return request;
}

/** The principal an in-process request was built for, if it is one. */
export function internalPrincipal(request: Request): Principal | undefined {
  return internal.get(request);
}

const previews = new WeakSet<Request>();

/**
 * Marks an in-process read as a preview (the UI reading a model card to render it): the
 * bytes are shown, not downloaded, so they do not count as a download. Like the principal,
 * nothing on the wire can set it.
 */
export function asPreview(request: Request): Request {
  previews.add(request);
  return request;
}

export function isPreview(request: Request): boolean {
  return previews.has(request);
}
