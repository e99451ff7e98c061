import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import type { Queryable } from "../db/store";

/**
 * Personal data (logins and e-mail addresses, e.g. from tailnet state) is stored encrypted under a key per
 * data subject; erasing the subject destroys the key (crypto-shredding), so history keeps its shape while
 * the plaintext is gone. Encryption is deterministic per key (IV from an HMAC of the plaintext) so that
 * re-ingesting the same value is still recognised as unchanged.
 */
/** What a sealed value of an erased data subject reads as. */
export const ERASED = "[erased]";

export const PERSONAL_MARK = "$personal";
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;

export interface Sealed {
  [PERSONAL_MARK]: string; // subject_ref
  iv: string;
  ct: string;
}

export function isSealed(v: unknown): v is Sealed {
  return typeof v === "object" && v !== null && typeof (v as Record<string, unknown>)[PERSONAL_MARK] === "string";
}

/** The data subject a string is about, if it names one (its first e-mail address, lower-cased). */
export function dataSubjectOf(s: string): string | undefined {
  return EMAIL.exec(s)?.[0].toLowerCase();
}

/** Cheap pre-check for open(): a value holding no sealed part reads as it is stored. */
export function hasSealed(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasSealed);
  if (v && typeof v === "object") return isSealed(v) || Object.values(v).some(hasSealed);
  return false;
}

/** Cheap pre-check for seal(): a value with no "@" in any string names no data subject. */
export function mayNamePerson(v: unknown): boolean {
  if (typeof v === "string") return v.includes("@");
  if (Array.isArray(v)) return v.some(mayNamePerson);
  if (v && typeof v === "object") return Object.values(v).some(mayNamePerson);
  return false;
}

export class PersonalData {
  private salt?: Buffer;
  private readonly keys = new Map<string, Buffer | null>();
  constructor(private readonly db: Queryable) {}

  async ref(subject: string): Promise<string> {
    if (!this.salt) {
      const r = await this.db.query<{ salt: Buffer | Uint8Array }>("SELECT salt FROM installation");
      this.salt = Buffer.from(r.rows[0]!.salt);
    }
    return createHmac("sha256", this.salt).update(subject.toLowerCase()).digest("hex").slice(0, 32);
  }

  private async key(ref: string, create: boolean): Promise<Buffer | null> {
    if (this.keys.has(ref) && (this.keys.get(ref) || !create)) return this.keys.get(ref)!;
    const r = await this.db.query<{ key: Buffer | Uint8Array }>("SELECT key FROM subject_key WHERE subject_ref = $1", [ref]);
    let key = r.rows[0] ? Buffer.from(r.rows[0].key) : null;
    // An erased subject never gets a new key: what names them again is stored as erased, not re-identified.
    const erased = !key && create && (await this.db.query("SELECT 1 FROM erasure WHERE subject_ref = $1", [ref])).rows.length > 0;
    if (!key && create && !erased) {
      key = randomBytes(32);
      await this.db.query("INSERT INTO subject_key (subject_ref, key) VALUES ($1, $2)", [ref, key]);
    }
    this.keys.set(ref, key);
    return key;
  }

  /** Replaces every string naming a data subject with its sealed form. */
  async seal(v: unknown): Promise<unknown> {
    if (typeof v === "string") {
      const subject = dataSubjectOf(v);
      if (!subject) return v;
      const ref = await this.ref(subject);
      const key = await this.key(ref, true);
      if (!key) return ERASED;
      const iv = createHmac("sha256", key).update(v).digest().subarray(0, 12);
      const c = createCipheriv("aes-256-gcm", key, iv);
      const ct = Buffer.concat([c.update(v, "utf8"), c.final(), c.getAuthTag()]);
      return { [PERSONAL_MARK]: ref, iv: iv.toString("base64"), ct: ct.toString("base64") } satisfies Sealed;
    }
    if (Array.isArray(v)) return Promise.all(v.map((x) => this.seal(x)));
    if (v && typeof v === "object") {
      if (isSealed(v)) return v;
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = await this.seal(x);
      return o;
    }
    return v;
  }

  /** The readable form: sealed strings decrypted, or `[erased]` once their subject's key is gone. */
  async open(v: unknown): Promise<unknown> {
    if (Array.isArray(v)) return Promise.all(v.map((x) => this.open(x)));
    if (v && typeof v === "object") {
      if (isSealed(v)) {
        const key = await this.key(v[PERSONAL_MARK], false);
        if (!key) return ERASED;
        const raw = Buffer.from(v.ct, "base64");
        const d = createDecipheriv("aes-256-gcm", key, Buffer.from(v.iv, "base64"));
        d.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]).toString("utf8");
      }
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = await this.open(x);
      return o;
    }
    return v;
  }
}
