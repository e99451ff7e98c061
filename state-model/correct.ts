import type { Store } from "./db/store";
import { sha256Hex, recordBatch } from "./facts/writer";
import type { BatchResult } from "./facts/types";
import { secretPaths } from "./facts/redact";

export interface Correction {
  subject: string;
  attribute: string;
  key?: string;
  /** The value the fact really had; null: it did not hold at all. */
  value: unknown | null;
  /** Default: the currently known piece that holds now (or the latest piece), all of it. */
  validFrom?: Date;
  validTo?: Date;
  actor: string;
  reason: string;
}

export class UnknownSubject extends Error {
  override name = "UnknownSubject";
}

/** A correction that would carry a credential: refused, so the operator's copy is the only one. */
export class SecretValue extends Error {
  override name = "SecretValue";
}

/**
 * Corrects what the store knows: the old versions stay visible "as known then"; the new ones carry the
 * actor and reason. One transaction.
 */
export async function correct(store: Store, c: Correction): Promise<BatchResult> {
  if (!c.actor.trim() || !c.reason.trim()) throw new Error("a correction needs --actor and --reason");
  // The store's rules (components/model/secrets.ts) would redact it; refusing says so instead of storing a blank.
  const secret = c.value === null ? [] : secretPaths(c.value, c.attribute);
  if (secret.length > 0) {
    throw new SecretValue(
      `the value of ${c.attribute} holds a credential (by its name or shape) at ${secret.join(", ")}: secrets are never recorded; correct it to "[redacted]" there, or leave it out`,
    );
  }
  const v = await store.query<{ kind: string }>("SELECT kind FROM vertex WHERE id = $1", [c.subject]);
  if (!v.rows[0]) throw new UnknownSubject(`no subject '${c.subject}' in the fleet model`);
  let from = c.validFrom?.getTime();
  let to = c.validTo?.getTime();
  if (from === undefined || to === undefined) {
    const r = await store.query<{ vf: number; vt: number | null }>(
      `SELECT (extract(epoch FROM valid_from) * 1000)::float8 AS vf,
              CASE WHEN valid_to = 'infinity' THEN NULL ELSE (extract(epoch FROM valid_to) * 1000)::float8 END AS vt
         FROM fact WHERE recorded_to = 'infinity' AND subject = $1 AND attribute = $2 AND value_key = $3
        ORDER BY (valid @> now()) DESC, valid_from DESC LIMIT 1`,
      [c.subject, c.attribute, c.key ?? ""],
    );
    const piece = r.rows[0];
    from ??= piece ? Number(piece.vf) : Date.now();
    to ??= piece && piece.vt !== null ? Number(piece.vt) : Infinity;
  }
  if (!(from < to)) throw new Error("the correction's valid range is empty (--valid-from must be before --valid-to)");
  return recordBatch(store, {
    kind: "correction",
    inputSha256: sha256Hex(JSON.stringify({ ...c, from, to, at: Date.now(), nonce: Math.random() })),
    complete: true,
    vertices: [{ id: c.subject, kind: v.rows[0].kind as never }],
    ops: [{ subject: c.subject, attribute: c.attribute, key: c.key ?? "", op: "correct", from, to, value: c.value }],
    actor: c.actor,
    reason: c.reason,
  });
}
