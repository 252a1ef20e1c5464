/**
 * Who is making an admin change, and from where. Every admin service call carries one:
 * the routes build it from the presented credential (the root admin token, later a
 * `manage` API key), the CLI and the YAML bootstrap name themselves. Authorization
 * reads `actor`; the audit trail records all of it.
 */

export type AdminActor =
  /** The root admin token: manages everything. */
  | { readonly type: "root" }
  /** A `manage`-scoped API key: manages its own account's subtree only. */
  | { readonly type: "api_key"; readonly keyId: string; readonly accountId: string }
  /** The YAML bootstrap at start. */
  | { readonly type: "config" }
  /** An operator command run against the database (`switchyard ...`). */
  | { readonly type: "cli" };

export interface AdminContext {
  readonly actor: AdminActor;
  /** The admin request's id (`x-request-id`), when the change came over HTTP. */
  readonly requestId?: string;
  /** The client's address, when the change came over HTTP. */
  readonly clientIp?: string;
}

/** The root actor with no request: tests and in-process callers that hold the root token's power. */
export const ROOT_CONTEXT: AdminContext = Object.freeze({ actor: Object.freeze({ type: "root" }) });

/** How the actor is written in the audit trail: `root`, `config`, `cli` or `api_key:<id>`. */
export function actorLabel(actor: AdminActor): string {
  return actor.type === "api_key" ? `api_key:${actor.keyId}` : actor.type;
}
