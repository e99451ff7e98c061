// The one reading of a time given by a person or a document: strict ISO-8601 (RFC 3339 profile), so that `1`
// or `March 7` is refused instead of read as 2001 or as some year's March, and within the years the store's
// timestamps and `Date` both represent exactly (an extreme year used to surface as a raw database error).

/** Earliest and latest instants accepted (inclusive). */
export const TIME_MIN = Date.UTC(1970, 0, 1);
export const TIME_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const RANGE = "out of range (1970-01-01 to 9999-12-31)";
const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/**
 * Milliseconds since the epoch, or a reason the text is not a time: a full date (`2026-11-24`, midnight UTC)
 * or a date-time with a zone (`2026-11-24T12:00:00Z`, `2026-11-24T13:00+01:00`; fractions of a second are
 * kept to the millisecond).
 */
export function parseIsoTime(text: string): number | { error: string } {
  const d = DATE.exec(text);
  const t = d ? undefined : DATE_TIME.exec(text);
  const m = d ?? t;
  if (!m) return { error: "not an ISO-8601 date (2026-11-24) or date-time with a zone (2026-11-24T12:00:00Z)" };
  const [y, mo, da] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1970) return { error: RANGE }; // also keeps Date.UTC from reading years 0–99 as 1900–1999
  if (mo < 1 || mo > 12 || da < 1 || da > daysIn(y, mo)) return { error: "no such date" };
  let ms = Date.UTC(y, mo - 1, da);
  if (t) {
    const [h, mi, s] = [Number(t[4]), Number(t[5]), Number(t[6] ?? 0)];
    if (h > 23 || mi > 59 || s > 59) return { error: "no such time of day" };
    const frac = Number((t[7] ?? "").padEnd(3, "0").slice(0, 3));
    let offset = 0;
    if (!t[8]) {
      const [oh, om] = [Number(t[10]), Number(t[11])];
      if (oh > 23 || om > 59) return { error: "no such zone offset" };
      offset = (t[9] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
    }
    ms += ((h * 60 + mi) * 60 + s) * 1000 + frac - offset;
  }
  if (ms < TIME_MIN || ms > TIME_MAX) return { error: RANGE };
  return ms;
}
