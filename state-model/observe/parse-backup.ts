// The backup probe: the status file the host's backup runner writes after every run and every `restic check`
// (BackupStatus in components/model/backup.ts) as facts of the host. The file is the host's word, so it is
// checked field by field: anything not of the documented shape fails the probe with the reason, and its free
// text (a host name, restic's error) is cut short and stripped of control characters before it is recorded.
// Ages are not facts: drift derives them from the times at the moment it runs (drift/backup.ts).
import type { BackupStatus } from "../../components/model/backup";
import { parseIsoTime } from "../time";

export const BACKUP_ATTRIBUTE = "backup";

/** parse.ts's ObservedFact, restated so that the parsers stay one-way (parse.ts imports this file). */
interface ObservedFact {
    attribute: string;
    key: string;
    value: unknown;
}

/** A status file is a few hundred bytes; anything much larger is not one (and is not worth holding). */
export const BACKUP_STATUS_MAX_BYTES = 64 * 1024;
/** Free text kept from the host: enough for restic's first error line, never a whole log. */
export const BACKUP_TEXT_MAX = 300;
/** restic's snapshot ids: the full sha256 or a short prefix of it. */
export const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

/** Why the probe exits non-zero: cat finds no file, or sudo refuses a command the observer's sudoers lacks. */
export const BACKUP_NO_STATUS = "no backup status file on the host (the backup layer has not run there), or the observer may not read it (an observer layer from before the backup probe)";

// C0, DEL, C1 and the bidi controls: a terminal or a reader acts on them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Host text as recorded: control characters replaced, at most BACKUP_TEXT_MAX characters. */
export function hostText(s: string): string {
    const clean = s.replace(CONTROL, "\ufffd");
    return clean.length > BACKUP_TEXT_MAX ? `${clean.slice(0, BACKUP_TEXT_MAX - 1)}…` : clean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

function time(o: Obj, field: string): string {
    const v = o.at;
    const t = typeof v === "string" && v.length <= 64 ? parseIsoTime(v) : { error: "not a string" };
    if (typeof t !== "number") throw new Error(`${field}.at is not an ISO-8601 time`);
    return new Date(t).toISOString();
}

function outcome(doc: Obj, field: "lastRun" | "lastCheck"): BackupStatus["lastRun"] {
    const o = doc[field];
    if (o === null || o === undefined) return null;
    if (!isObj(o)) throw new Error(`${field} is not an object or null`);
    if (typeof o.ok !== "boolean") throw new Error(`${field}.ok is not true or false`);
    if (o.error !== null && o.error !== undefined && typeof o.error !== "string") throw new Error(`${field}.error is not text or null`);
    const error = typeof o.error === "string" ? hostText(o.error) : null;
    return { at: time(o, field), ok: o.ok, error: o.ok ? null : error ?? "(no error given)" };
}

const count = (o: Obj, field: string, name: string): number => {
    const v = o[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Error(`${field}.${name} is not a whole number of at least 0`);
    return v;
};

function success(doc: Obj): BackupStatus["lastSuccess"] {
    const o = doc.lastSuccess;
    if (o === null || o === undefined) return null;
    if (!isObj(o)) throw new Error("lastSuccess is not an object or null");
    if (typeof o.snapshot !== "string" || !SNAPSHOT_ID.test(o.snapshot)) throw new Error("lastSuccess.snapshot is not a restic snapshot id (8 to 64 lower-case hex digits)");
    return { at: time(o, "lastSuccess"), snapshot: o.snapshot, sizeBytes: count(o, "lastSuccess", "sizeBytes"), files: count(o, "lastSuccess", "files") };
}

/** The status file as facts `backup/<field>`; a field that is null (never happened) is no fact. Throws why it is unreadable. */
export function parseBackupStatus(out: string): ObservedFact[] {
    if (Buffer.byteLength(out) > BACKUP_STATUS_MAX_BYTES) throw new Error(`the status file is larger than ${BACKUP_STATUS_MAX_BYTES} bytes`);
    let doc: unknown;
    try {
        doc = JSON.parse(out);
    } catch {
        // JSON.parse's message quotes the input: not repeated here.
        throw new Error("the status file is not JSON");
    }
    if (!isObj(doc)) throw new Error("the status file is not a JSON object");
    if (typeof doc.host !== "string") throw new Error("host is not text");
    const facts: ObservedFact[] = [{ attribute: BACKUP_ATTRIBUTE, key: "host", value: hostText(doc.host) }];
    const fields = { lastRun: outcome(doc, "lastRun"), lastSuccess: success(doc), lastCheck: outcome(doc, "lastCheck") };
    for (const [key, value] of Object.entries(fields)) if (value) facts.push({ attribute: BACKUP_ATTRIBUTE, key, value });
    return facts;
}
