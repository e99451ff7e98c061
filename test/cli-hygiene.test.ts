// Output and input hygiene, as units: the escaping every human-readable line goes through, JSON for stdout,
// the one reading of a time, strict UTF-8 and the nesting limit. Properties run with a fixed seed here; set
// DEMESNE_FUZZ_RUNS for a longer run.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatFinding } from "../cli/drift-commands";
import { esc, escLines, safeJson, shown } from "../cli/escape";
import { Output, table } from "../cli/output";
import { checkNesting, MAX_DEPTH } from "../state-model/ingest/parse";
import { decodeUtf8, firstInvalidUtf8, parseSize } from "../state-model/ingest/read";
import { parseIsoTime, TIME_MAX, TIME_MIN } from "../state-model/time";

const RUNS = Number(process.env.DEMESNE_FUZZ_RUNS) || 1000;
const opts = { seed: 20261206, numRuns: RUNS };
/** What a terminal acts on: C0, DEL, C1 and the bidi embeddings, overrides and isolates. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** Strings rich in what matters here: controls, bidi, backslashes, newlines, and any other code point. */
const nasty = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0, max: 0x9f }).map((n) => String.fromCharCode(n)),
    fc.constantFrom("\u202a", "\u202e", "\u2066", "\u2069", "\\", "\n", "\r", "é", "→"),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});
const printable = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !CONTROL.test(s));

describe("escaping strings that came from input", () => {
  it("any string escaped has no control character, and escaping again changes nothing", () => {
    fc.assert(
      fc.property(nasty, (s) => {
        const e = esc(s);
        expect(e).not.toMatch(CONTROL);
        expect(esc(e)).toBe(e);
        expect(escLines(s)).not.toMatch(CONTROL_BUT_NEWLINE);
      }),
      opts,
    );
  });

  it("printable text, backslashes and all, is shown unchanged", () => {
    fc.assert(
      fc.property(printable, (s) => {
        expect(esc(s)).toBe(s);
        expect(escLines(s)).toBe(s);
      }),
      opts,
    );
    expect(esc("C:\\path\\n é → ✓")).toBe("C:\\path\\n é → ✓");
  });

  it("names each control visibly: ESC, CR, LF, BEL, DEL, C1 and the bidi overrides", () => {
    expect(esc("\u001b[31mred\r\n\u0007\u007f\u009b\u202eevil\u2066")).toBe("\\e[31mred\\r\\n\\x07\\x7f\\x9b\\u202eevil\\u2066");
    expect(shown`approved by ${"mallory\r\u001b[2Kalice"} at ${3}`).toBe("approved by mallory\\r\\e[2Kalice at 3");
    expect(escLines("one\ntwo\u001b")).toBe("one\ntwo\\e");
  });

  it("a table cell or a printed line cannot carry a control character or start a line of its own", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ a: nasty, b: fc.oneof(nasty, fc.dictionary(nasty, nasty, { maxKeys: 2 })) }), { maxLength: 4 }), (rows) => {
        const t = table(rows, ["a", "b"]);
        expect(t).not.toMatch(CONTROL_BUT_NEWLINE);
        expect(t.split("\n")).toHaveLength(rows.length + 2);
        const out = new Output(false);
        out.line(shown`actor ${rows[0]?.a ?? ""}`);
        out.line(`raw ${rows[0]?.a ?? ""}`); // the last net: even an unescaped line loses its controls
        expect(out.text()).not.toMatch(CONTROL_BUT_NEWLINE);
        expect(out.text().split("\n")[0]).toBe(shown`actor ${rows[0]?.a ?? ""}`);
      }),
      opts,
    );
  });

  it("a drift finding shows what a host reported (file names, values, errors) escaped, one line per field", () => {
    fc.assert(
      fc.property(nasty, nasty, fc.oneof(nasty, fc.dictionary(nasty, nasty, { maxKeys: 2 })), (file, why, observed) => {
        const text = formatFinding({
          host: "web-1", subject: "host:web-1", attribute: "sudoers.file", key: file, path: ["sudoers.file", file], change: "unexpected",
          desired: null, observed, severity: "high", source: "desired:lab", layer: null, tier: null, converge: `by hand: rm ${file}`, why,
        });
        expect(text).not.toMatch(CONTROL_BUT_NEWLINE);
        expect(text.split("\n")).toHaveLength(6);
      }),
      opts,
    );
  });

  it("--json output is the same value, with no character a terminal acts on, and never a human line", () => {
    fc.assert(
      fc.property(fc.jsonValue(), nasty, (v, s) => {
        const value = { v, s };
        const text = safeJson(value, 2);
        expect(text).not.toMatch(CONTROL_BUT_NEWLINE);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      opts,
    );
    const out = new Output(true);
    expect(() => out.line("hello")).toThrow(/--json/);
  });
});

describe("times are strict ISO-8601 within 1970–9999", () => {
  const instant = fc.integer({ min: TIME_MIN, max: TIME_MAX });
  const offset = fc.integer({ min: -14 * 60, max: 14 * 60 });
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");

  it("any instant in range, written with any zone offset, reads back as itself", () => {
    fc.assert(
      fc.property(instant, offset, (ms, off) => {
        expect(parseIsoTime(new Date(ms).toISOString())).toBe(ms);
        const local = new Date(ms + off * 60_000);
        const zone = `${off < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
        const text = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${pad(local.getUTCMilliseconds(), 3)}${zone}`;
        const want = ms + off * 60_000 >= TIME_MIN && ms + off * 60_000 <= TIME_MAX ? ms : undefined;
        if (want !== undefined) expect(parseIsoTime(text)).toBe(want);
      }),
      opts,
    );
  });

  it("whatever it accepts is a well-formed ISO-8601 time that Date reads the same way", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.stringMatching(/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d))?$/)), (s) => {
        const t = parseIsoTime(s);
        if (typeof t !== "number") return;
        expect(s).toMatch(/^\d{4}-\d\d-\d\d([Tt]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:\d\d))?$/);
        expect(t).toBe(Date.parse(s));
        expect(t).toBeGreaterThanOrEqual(TIME_MIN);
        expect(t).toBeLessThanOrEqual(TIME_MAX);
      }),
      opts,
    );
  });

  it("refuses what Date.parse would have guessed at, impossible dates and extreme years", () => {
    for (const s of ["1", "March 7", "2026-11-24 12:00", "2026-11-24T12:00:00", "20261124", "2026-02-30", "2026-13-01", "2026-11-24T24:00:00Z",
      "2026-11-24T12:60:00Z", "2026-11-24T12:00:00+25:00", "0070-01-01", "1969-12-31T23:59:59Z", "+010000-01-01T00:00:00Z", "10000-01-01", "now", ""]) {
      expect(typeof parseIsoTime(s), s).toBe("object");
    }
    expect(parseIsoTime("2026-11-24")).toBe(Date.UTC(2026, 10, 24));
    expect(parseIsoTime("2026-11-24T13:00+01:00")).toBe(Date.UTC(2026, 10, 24, 12));
    expect(parseIsoTime("2026-11-24T12:00:00.123456789Z")).toBe(Date.UTC(2026, 10, 24, 12, 0, 0, 123));
    expect(parseIsoTime("9999-12-31T23:59:59.999Z")).toBe(TIME_MAX);
  });
});

describe("recorder input: strict UTF-8, a nesting limit, sizes", () => {
  it("invalid UTF-8 is found exactly where the standard decoder fails, and named by line and byte offset", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const at = firstInvalidUtf8(bytes);
        let ok = true;
        try {
          new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch {
          ok = false;
        }
        expect(at === bytes.length).toBe(ok);
        // Everything before the offset is valid; stopping there is not (an invalid byte, or a cut sequence).
        expect(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, at))).not.toThrow();
      }),
      opts,
    );
    const bytes = Buffer.concat([Buffer.from('{"a":1}\n{"b":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]);
    expect(() => decodeUtf8(bytes)).toThrow(/^line 2: not UTF-8 \(invalid byte 0xe9 at byte offset 17\)/);
    expect(decodeUtf8(Buffer.from("café ✓"))).toBe("café ✓");
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} levels by its line, without recursion; brackets in strings do not count`, () => {
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    expect(() => checkNesting(`{"x":${deep(MAX_DEPTH - 1)}}`)).not.toThrow();
    expect(() => checkNesting(`{"a":1}\n{"x":${deep(MAX_DEPTH)}}`)).toThrow(/^line 2: nested deeper than 64 levels/);
    expect(() => checkNesting(`{"x":${deep(1_000_000)}}`)).toThrow(/nested deeper/);
    expect(() => checkNesting(`{"x":"${"[".repeat(500)}\\"${"{".repeat(500)}"}`)).not.toThrow();
    // A stray quote on a broken line cannot hide the lines after it.
    expect(() => checkNesting(`{"x":"oops\n{"y":${deep(100)}}`)).toThrow(/^line 2: nested deeper/);
  });

  it("sizes are bytes or binary units", () => {
    expect(parseSize("1024")).toBe(1024);
    expect(parseSize("256MiB")).toBe(256 * 1024 * 1024);
    expect(parseSize("2k")).toBe(2048);
    for (const s of ["", "0", "-1", "1.5MiB", "12 parsecs", "1e9"]) expect(parseSize(s), s).toBeUndefined();
  });
});
