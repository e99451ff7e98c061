// Output and input hygiene through the real `demesne` command: what the recorder will read (regular files
// and stdin, within a size and nesting limit, as strict UTF-8), the time flags, flags that do not apply to
// an input, and strings from input shown escaped in human-readable output and as the same value in --json.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACL, aclUpdate, events, stackExport } from "./helpers/engine-inputs";
import { freshStore, type StoreTarget } from "./helpers/stores";

const BIN = path.join(__dirname, "..", "bin", "demesne.js");
const T0 = Date.parse("2026-11-02T08:00:00Z") / 1000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-hygiene-"));
/** What a terminal acts on, but the line breaks of the output itself. */
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "mallory\r\u001b[2K\u001b]0;owned\u0007alice\u202e\u009b31m";

let t: StoreTarget;
let socket: net.Server;

/** The CLI with a deadline: a read that hangs (a FIFO, a device) fails the test instead of the suite. Generous:
 *  opening the embedded store takes tens of seconds on a loaded machine. */
function cli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...t.env, ...opts.env }, input: opts.input, cwd: opts.cwd, encoding: "utf8", timeout: 240_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: r.error !== undefined };
}
const file = (name: string, data: string | Buffer) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, data);
  return p;
};
/** Exit 2 with a message naming what it must; JSON on stdout under --json. */
function usage(args: string[], want: RegExp, opts: Parameters<typeof cli>[1] = {}) {
  const r = cli([...args, "--json"], opts);
  const what = args.join(" ").slice(0, 120);
  expect(r.timedOut, `${what}: still running after 240 s`).toBe(false);
  expect(r.code, `${what}: ${r.stdout.slice(0, 500)}${r.stderr.slice(0, 500)}`).toBe(2);
  const msg = (JSON.parse(r.stdout) as { message: string }).message;
  expect(msg, what).toMatch(want);
  return msg;
}
async function factCount(): Promise<number> {
  const s = await t.open();
  try {
    return Number((await s.query<{ n: number }>("SELECT count(*)::int AS n FROM fact")).rows[0]!.n);
  } finally {
    await s.close();
  }
}

beforeAll(async () => {
  t = await freshStore("pglite");
  socket = net.createServer().listen(path.join(tmp, "sock"));
  await new Promise((r) => socket.once("listening", r));
});
afterAll(() => socket?.close());

describe("demesne ingest reads regular files and stdin only, within limits", { timeout: 900_000 }, () => {
  it("refuses a FIFO, a character device, a directory and a socket by path, at once", () => {
    const fifo = path.join(tmp, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    usage(["ingest", fifo], /fifo is a FIFO: the recorder reads regular files and stdin \(-\) only/);
    usage(["ingest", "/dev/null"], /\/dev\/null is a character device/);
    usage(["ingest", tmp], /is a directory/);
    usage(["ingest", path.join(tmp, "sock")], /sock: a socket or device/);
  });

  it("refuses input over the size limit (flag or environment), from a file or stdin, naming the limit", async () => {
    const big = aclUpdate(T0, { admin: "a@example.org", sentinel: "s" });
    expect(big.length).toBeGreaterThan(1024);
    const p = file("big.ndjson", big);
    usage(["ingest", p, "--max-bytes", "1KiB"], /larger than the limit of 1024 bytes \(raise it with --max-bytes/);
    usage(["ingest", p], /larger than the limit of 1000 bytes/, { env: { DEMESNE_INGEST_MAX_BYTES: "1000" } });
    usage(["ingest", "-", "--max-bytes", "1024"], /stdin is larger than the limit of 1024 bytes/, { input: big });
    usage(["ingest", p, "--max-bytes", "lots"], /--max-bytes: 'lots' is not a size/);
    expect(await factCount()).toBe(0);
  });

  it("refuses nesting deeper than 64 levels and invalid UTF-8, naming the line; nothing is written", async () => {
    const good = aclUpdate(T0, { admin: "a@example.org", sentinel: "s" }).trim().split("\n");
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const nested = [...good.slice(0, 2), `{"sequence":9,"timestamp":${T0},"x":${deep}}`, ...good.slice(2)].join("\n");
    usage(["ingest", file("deep.ndjson", nested)], /^line 3: nested deeper than 64 levels \(nothing was written\)$/);
    const bad = Buffer.from(good.join("\n"));
    const at = bad.indexOf("a@example.org");
    bad[at] = 0xff;
    const line = bad.subarray(0, at).toString().split("\n").length;
    usage(["ingest", file("latin1.ndjson", bad)], new RegExp(`^line ${line}: not UTF-8 \\(invalid byte 0xff at byte offset ${at}\\)`));
    usage(["ingest", "-"], /not UTF-8/, { input: bad });
    // A correction's value is checked the same way (10,000 levels: an argument is at most 128 KiB).
    usage(["correct", ACL, "note", `${"[".repeat(10_000)}${"]".repeat(10_000)}`, "--actor", "a", "--reason", "r"], /<value-json>: nested deeper than 64 levels/);
    expect(await factCount()).toBe(0);
  });

  it("refuses a flag the input would ignore, and times in the input that are not times", () => {
    const ev = file("ev.ndjson", aclUpdate(T0, { admin: "a@example.org", sentinel: "s" }));
    usage(["ingest", ev, "--valid-at", "2026-11-01T00:00:00Z"], /--valid-at does not apply to an engine event stream/);
    const ex = file("export.json", stackExport("2026-11-02T08:00:00Z", []));
    usage(["ingest", ex, "--update-id", "u1"], /--update-id does not apply to a stack export/);
    usage(["ingest", file("export-1.json", stackExport("1", []))], /line 5: deployment\.manifest\.time: '1' is not an ISO-8601/);
    usage(["ingest", file("far.ndjson", events(1e13, [{ summaryEvent: { result: "succeeded" } }]))], /line 1: timestamp: 10000000000000 is out of range/);
    const plan = file("plan.json", JSON.stringify({ manifest: { time: "2026-11-02T08:00:00Z" }, resourcePlans: {} }));
    usage(["ingest", plan, "--valid-at", "2026-11-01"], /--valid-at does not apply to this plan/);
  });
});

describe("each command takes only the flags it reads", { timeout: 900_000 }, () => {
  it("refuses a flag another command of the same family would read, instead of ignoring it", () => {
    const sha = "0".repeat(64);
    // In a directory without stack files: nothing here may reach a stack, an engine or a host.
    const cases: [string[], string][] = [
      [["observe", "--against", "desired"], "--against"],
      [["drift", "--identity", "key"], "--identity"],
      [["baseline", "bless", "b", "--ignore", "f"], "--ignore"],
      [["plan", "--token", "T3-0000-0000-0000-0000"], "--token"],
      [["approve", sha, "--actor", "a", "--layer", "h1/ssh"], "--layer"],
      [["apply", sha, "--token", "T3-0000-0000-0000-0000"], "--token"],
    ];
    for (const [args, flag] of cases) usage(args, new RegExp(`${flag}(?![\\w-])`), { cwd: tmp });
  });
});

describe("time flags are strict ISO-8601 within 1970–9999, and the error names the flag", { timeout: 900_000 }, () => {
  it("refuses `1`, `March 7`, impossible dates and extreme years on every time flag", () => {
    const cases: [string[], string][] = [
      [["fleet", "--valid-at", "1"], "--valid-at"],
      [["fleet", "--known-at", "March 7"], "--known-at"],
      [["history", ACL, "--valid-at", "2026-02-30"], "--valid-at"],
      [["changes", "--from", "+275760-09-13T00:00:00Z", "--to", "now"], "--from"],
      [["changes", "--from", "2026-11-01", "--to", "10000-01-01"], "--to"],
      [["ingest", "-", "--kind", "preview", "--valid-at", "1969-12-31T23:59:59Z"], "--valid-at"],
      [["correct", ACL, "note", '"x"', "--actor", "a", "--reason", "r", "--valid-from", "2026-11-24 12:00"], "--valid-from"],
      [["correct", ACL, "note", '"x"', "--actor", "a", "--reason", "r", "--valid-to", "12/24/2026"], "--valid-to"],
    ];
    for (const [args, flag] of cases) usage(args, new RegExp(`^${flag}: '.*' is (not an ISO-8601|no such date|out of range)`));
    const ok = cli(["fleet", "--valid-at", "9999-12-31T23:59:59Z", "--known-at", "2026-11-24", "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe("strings from input are shown escaped, and as the same value in --json", { timeout: 900_000 }, () => {
  it("history, fleet, correct and errors show control characters and bidi overrides as visible escapes", () => {
    const ev = file("hostile.ndjson", aclUpdate(T0, { admin: "a@example.org", sentinel: "s", acl: HOSTILE }));
    expect(cli(["ingest", ev]).code).toBe(0);
    const c = cli(["correct", ACL, "note", JSON.stringify(HOSTILE), "--actor", HOSTILE, "--reason", HOSTILE]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).not.toMatch(CONTROL_BUT_NEWLINE);
    for (const args of [["history", ACL], ["fleet", "--subject", ACL]]) {
      const r = cli(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, args[0]).not.toMatch(CONTROL_BUT_NEWLINE);
      expect(r.stdout, args[0]).toContain("mallory\\r\\e[2K\\e]0;owned\\x07alice\\u202e\\x9b31m");
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines.every((l) => l.length > 0), args[0]).toBe(true); // no value broke a row in two
      const j = cli([...args, "--json"]);
      expect(j.stdout).not.toMatch(CONTROL_BUT_NEWLINE);
      const rows = JSON.parse(j.stdout) as { attribute: string; value: unknown; actor?: string }[];
      expect(rows.find((x) => x.attribute === "note")?.value).toBe(HOSTILE);
    }
    const e = cli(["history", `${HOSTILE}\nforged: line`, "--valid-at", HOSTILE]);
    expect(e.code).toBe(2);
    expect(e.stderr).not.toMatch(CONTROL_BUT_NEWLINE);
    expect(e.stderr.trimEnd().split("\n")).toHaveLength(1);
    const u = cli(["fleet", `--${HOSTILE}`]);
    expect(u.stderr).not.toMatch(CONTROL_BUT_NEWLINE);
    expect(u.stderr).toMatch(/unknown option --mallory\\r\\e/);
  });
});
