import { createHash } from "node:crypto";
import type { Queryable, Store } from "./db/store";
import { IntegrityError } from "./db/store";
import { canonicalJson } from "../components/model/hash";
import { dataSubjectOf } from "./facts/personal";
import { redactSecrets } from "./facts/redact";
import { verifyFacts, type FactsVerified } from "./facts/binding";

/**
 * The audit log: an append-only hash chain. Each entry hashes the previous hash and the canonical JSON of
 * its own fields; bodies are never stored, only their sha256 and length. The head (seq, hash) exported to
 * an anchor file outside the store catches a rewritten tail that a chain walk alone cannot.
 */
export const GENESIS = "0".repeat(64);
const AUDIT_LOCK = 7_236_042;

export interface AuditEntry {
  actor: string;
  action: string;
  params: Record<string, unknown>;
  output: string | Buffer;
}

export interface Anchor {
  seq: number;
  hash: string;
}

interface Row {
  seq: number;
  at: string;
  actor: string;
  action: string;
  params: unknown;
  output_sha256: string;
  output_len: number;
  prev_hash: string;
  hash: string;
}

export function entryHash(prev: string, e: Omit<Row, "prev_hash" | "hash">): string {
  const body = canonicalJson({
    seq: Number(e.seq),
    at: e.at,
    actor: e.actor,
    action: e.action,
    params: e.params,
    output_sha256: e.output_sha256,
    output_len: Number(e.output_len),
  });
  return createHash("sha256").update(prev).update(body).digest("hex");
}

/** Parameters as stored: secrets redacted and any e-mail address dropped (it would be personal data). */
function storedParams(p: Record<string, unknown>): unknown {
  const scrub = (v: unknown): unknown => {
    if (typeof v === "string") return dataSubjectOf(v) ? "[personal]" : v;
    if (Array.isArray(v)) return v.map(scrub);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
    return v;
  };
  return scrub(redactSecrets(p));
}

/**
 * Appends inside the caller's transaction (the writer binds a batch in the batch's own transaction). With
 * `verbatim`, params are stored as given: a binding's digest must not pass through the redaction rules.
 */
export async function auditAppendIn(tx: Queryable, e: AuditEntry, opts: { verbatim?: boolean } = {}): Promise<Anchor> {
  await tx.query("SELECT pg_advisory_xact_lock($1)", [AUDIT_LOCK]);
  const head = await tx.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  const prev = head.rows[0] ? { seq: Number(head.rows[0].seq), hash: head.rows[0].hash } : { seq: 0, hash: GENESIS };
  const out = typeof e.output === "string" ? Buffer.from(e.output) : e.output;
  const row = {
    seq: prev.seq + 1,
    at: new Date().toISOString(),
    actor: e.actor,
    action: e.action,
    params: JSON.parse(canonicalJson(opts.verbatim ? e.params : storedParams(e.params))) as unknown,
    output_sha256: createHash("sha256").update(out).digest("hex"),
    output_len: out.length,
  };
  const hash = entryHash(prev.hash, row);
  await tx.query(
    `INSERT INTO audit_log (seq, at, actor, action, params, output_sha256, output_len, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [row.seq, row.at, row.actor, row.action, JSON.stringify(row.params), row.output_sha256, row.output_len, prev.hash, hash],
  );
  return { seq: row.seq, hash };
}

/**
 * Appends one entry. Never throws into the caller: a failure to audit is reported on stderr (without
 * parameters) and returned as undefined, so that the caller decides whether to refuse.
 */
export async function auditAppend(store: Store, e: AuditEntry): Promise<Anchor | undefined> {
  try {
    return await store.transaction((tx) => auditAppendIn(tx, e));
  } catch (err) {
    process.stderr.write(`demesne: warning: could not append to the audit log (${e.action}): ${(err as Error).message}\n`);
    return undefined;
  }
}

/** The chain's head, to be kept outside the store (`demesne audit anchor > FILE`). */
export async function auditHead(db: Queryable): Promise<Anchor> {
  const r = await db.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : { seq: 0, hash: GENESIS };
}

export interface VerifyResult extends FactsVerified {
  entries: number;
  head: Anchor;
}

/**
 * Walks the whole chain; with an anchor, also checks the chain still holds it; then recomputes every batch's
 * binding from the stored facts (facts/binding.ts), so facts changed behind the recorder's back fail too.
 * Throws IntegrityError naming the entry or the batch.
 */
export async function auditVerify(db: Queryable, anchor?: Anchor): Promise<VerifyResult> {
  const r = await db.query<Row>(
    `SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, params,
            output_sha256, output_len, prev_hash, hash FROM audit_log ORDER BY seq`,
  );
  let prev = GENESIS;
  let expect = 1;
  let anchorSeen = false;
  for (const row of r.rows) {
    const seq = Number(row.seq);
    if (seq !== expect) throw new IntegrityError(`audit log: entry ${expect} is missing (found ${seq} next)`);
    if (row.prev_hash !== prev) throw new IntegrityError(`audit log: entry ${seq} does not follow entry ${seq - 1}`);
    if (entryHash(prev, { ...row, seq }) !== row.hash) throw new IntegrityError(`audit log: entry ${seq} was altered`);
    if (anchor && seq === anchor.seq) {
      if (row.hash !== anchor.hash) throw new IntegrityError(`audit log: entry ${seq} differs from the anchor: history was rewritten`);
      anchorSeen = true;
    }
    prev = row.hash;
    expect += 1;
  }
  if (anchor && anchor.seq > 0 && !anchorSeen) {
    throw new IntegrityError(`audit log: the anchor names entry ${anchor.seq}, but the log ends at ${expect - 1}: its tail was removed`);
  }
  const facts = await verifyFacts(db, r.rows.map((row) => ({ seq: Number(row.seq), action: row.action, params: row.params })));
  if (facts.problems.length) throw new IntegrityError(`facts: ${facts.problems.join("\nfacts: ")}`);
  return { entries: expect - 1, head: { seq: expect - 1, hash: prev }, ...facts.verified };
}
