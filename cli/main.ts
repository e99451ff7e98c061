import * as os from "node:os";
import * as path from "node:path";
import { auditAppend, auditHead, auditVerify, type Anchor } from "../state-model/audit";
import { correct, SecretValue, UnknownSubject } from "../state-model/correct";
import { redactText } from "../components/model/secrets";
import { migrate } from "../state-model/db/migrate";
import { openFleetStore } from "../state-model/db/open";
import { openPostgres } from "../state-model/db/postgres";
import { IntegrityError, type Store } from "../state-model/db/store";
import { erase } from "../state-model/erase";
import { InputError } from "../state-model/ingest/errors";
import { planIngest, recordIngest } from "../state-model/ingest/ingest";
import { checkNesting, KINDS, type Kind } from "../state-model/ingest/parse";
import { decodeUtf8, DEFAULT_MAX_BYTES, parseSize, readInputFile, readInputStream } from "../state-model/ingest/read";
import { asOf, changes, historyAt } from "../state-model/queries";
import { parseArgs, str, time, type Parsed } from "./args";
import { bless, drift, observe, OBSERVE_VALUED } from "./drift-commands";
import { apply, approve, plan } from "./apply-commands";
import { backupStatus, restore } from "./backup-commands";
import { mcp, MCP_BOOLEANS, MCP_VALUED } from "./mcp-command";
import { EXIT, Refused, UsageError } from "./exit";
import { esc, escLines, safeJson, shown } from "./escape";
import { note, Output, table } from "./output";

const USAGE = `usage: demesne <command> [options] [--json]

  ingest <file|->  [--stack S] [--kind events|preview|export|plan] [--update-id ID] [--valid-at T] [--max-bytes N]
  fleet            [--valid-at T] [--known-at T] [--subject S]
  history <subject> [--attr A] [--valid-at T] [--known-at T]
  changes --from T1 --to T2 [--known-at T]
  correct <subject> <attr> <value-json> --actor A --reason R [--key K] [--valid-from T] [--valid-to T]
  erase <data-subject> --actor A --reason R
  observe          [--stack S] [--host H,…] [--identity KEY] [--concurrency N] [--host-timeout SECONDS]   (read-only probes over SSH as the observer)
  drift            [--stack S] [--host H,…] [--against desired|applied|plan:FILE|baseline:NAME] [--ignore FILE]
  baseline bless NAME [--stack S] [--host H,…] [--reason R]
  plan             [--stack S] [--layer HOST/LAYER,… [--replace]] [--target URN,…] [--plan-file FILE]   (the preview with the policy pack, saved and classified)
  approve <plan-sha256> --actor NAME [--stack S] [--token T3-…] [--sign-key KEY]
  apply <plan-sha256> [--stack S] [--allowed-signers FILE]
  backup status    [--stack S]   (each host's last backup, its age and last check, as last observed; exit 1 if critical)
  restore --host H --service S --snapshot ID [--from-host F] [--stack S]   (adds a request to demesne:restores; plan, approve and apply it)
  mcp              [--profile read|act] [--transport stdio|http [--token-file FILE] [--listen ADDR] [--port N] [--allow-non-loopback] [--allowed-origin O,…]]
  audit verify [--anchor FILE]
  audit anchor            (prints the chain head; keep it outside the store)
  db migrate              (as the schema owner; DATABASE_URL)

Store: PostgreSQL when DATABASE_URL is set, else the embedded store in $DEMESNE_STATE_DIR (default .demesne).
Times: an ISO-8601 date (2026-11-24) or date-time with a zone (2026-11-24T12:00:00Z), 1970–9999, or now.
Exit codes: 0 ok, 1 refused or drift, 2 usage or input error, 3 integrity failure.`;

const actorOf = (p: Parsed) => str(p, "actor") ?? process.env.DEMESNE_ACTOR ?? os.userInfo().username;


/** --max-bytes, else DEMESNE_INGEST_MAX_BYTES, else the default; a bad value names where it came from. */
function maxBytesOf(p: Parsed): number {
  const [from, v] = str(p, "max-bytes") !== undefined ? ["--max-bytes", str(p, "max-bytes")!] : ["DEMESNE_INGEST_MAX_BYTES", process.env.DEMESNE_INGEST_MAX_BYTES];
  if (v === undefined || v === "") return DEFAULT_MAX_BYTES;
  const n = parseSize(v);
  if (n === undefined) throw new UsageError(`${from}: '${esc(v.slice(0, 64))}' is not a size (bytes, or with KiB, MiB or GiB: 256MiB)`);
  return n;
}

async function withStore<T>(fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openFleetStore({
    onWait: (pid) => note(`waiting for another demesne process (pid ${pid}) to finish with the store`),
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

type Handler = (p: Parsed, out: Output) => Promise<number>;

const commands: Record<string, { valued: string[]; booleans?: string[]; run: Handler }> = {
  ingest: {
    valued: ["stack", "kind", "update-id", "valid-at", "actor", "max-bytes"],
    run: async (p, out) => {
      const file = p.positional[0];
      if (!file || p.positional.length > 1) throw new UsageError("ingest takes one file (or - for stdin)");
      const kind = str(p, "kind");
      if (kind && !KINDS.includes(kind as Kind)) throw new UsageError(`--kind must be one of ${KINDS.join(", ")}`);
      const at = time(p, "valid-at")?.getTime();
      const max = maxBytesOf(p);
      const text = decodeUtf8(file === "-" ? await readInputStream(process.stdin, max) : readInputFile(file, max));
      // Parsed and mapped before the store is opened: bad input is refused without waiting for it.
      const batch = planIngest(text, { kind: kind as Kind | undefined, stack: str(p, "stack"), updateId: str(p, "update-id"), at });
      return withStore(async (store) => {
        const r = await recordIngest(store, batch, { onRecording: (k, n) => note(`recording ${n} fact changes from ${k} input in one transaction…`) });
        const report = {
          kind: r.kind,
          updateId: r.updateId ?? null,
          stack: r.stack ?? null,
          complete: r.complete,
          batch: r.batchId,
          duplicate: r.duplicate,
          factsAdded: r.factsAdded,
          factsClosed: r.factsClosed,
          factsUnchanged: r.factsUnchanged,
        };
        if (out.json) out.data(report);
        else {
          out.line(`${r.duplicate ? "already recorded" : "recorded"} ${r.kind}${r.updateId ? shown` ${r.updateId}` : ""}${r.stack ? shown` (stack ${r.stack})` : ""}${r.complete ? "" : " — INCOMPLETE (no summary: interrupted or failed)"}`);
          out.line(`facts: ${r.factsAdded} added, ${r.factsClosed} superseded, ${r.factsUnchanged} unchanged`);
        }
        await auditAppend(store, { actor: actorOf(p), action: "ingest", params: { file: path.basename(file), ...report }, output: out.text() });
        return EXIT.ok;
      });
    },
  },
  fleet: {
    valued: ["valid-at", "known-at", "subject"],
    run: (p, out) => {
      // Flags are read before the store is opened: a usage error never waits for the store.
      const q = { subject: str(p, "subject"), validAt: time(p, "valid-at"), knownAt: time(p, "known-at") };
      return withStore(async (store) => {
        const rows = await asOf(store, q);
        if (out.json) out.data(rows);
        else out.line(rows.length ? table(rows as never, ["subject", "kind", "attribute", "key", "value", "validFrom"]) : "(no facts)");
        return EXIT.ok;
      });
    },
  },
  history: {
    valued: ["attr", "valid-at", "known-at"],
    run: (p, out) => {
      const subject = p.positional[0];
      if (!subject || p.positional.length > 1) throw new UsageError("history takes one subject");
      const q = { subject, attribute: str(p, "attr"), validAt: time(p, "valid-at"), knownAt: time(p, "known-at") };
      return withStore(async (store) => {
        const rows = await historyAt(store, q);
        if (out.json) out.data(rows);
        else out.line(rows.length ? table(rows as never, ["attribute", "key", "value", "validFrom", "validTo", "recordedFrom", "recordedTo", "actor", "reason"]) : "(no history)");
        return EXIT.ok;
      });
    },
  },
  changes: {
    valued: ["from", "to", "known-at"],
    run: (p, out) => {
      const from = time(p, "from");
      const to = time(p, "to");
      if (!from || !to) throw new UsageError("changes needs --from and --to");
      const knownAt = time(p, "known-at");
      return withStore(async (store) => {
        const rows = await changes(store, { from, to, knownAt });
        if (out.json) out.data(rows);
        else out.line(rows.length ? table(rows as never, ["change", "subject", "attribute", "key", "from", "to"]) : "(no changes)");
        return EXIT.ok;
      });
    },
  },
  correct: {
    valued: ["actor", "reason", "key", "valid-from", "valid-to"],
    run: (p, out) => {
      const [subject, attribute, raw] = p.positional;
      if (!subject || !attribute || raw === undefined || p.positional.length > 3) throw new UsageError("correct takes <subject> <attr> <value-json>");
      const actor = str(p, "actor");
      const reason = str(p, "reason");
      if (!actor || !reason) throw new UsageError("correct needs --actor and --reason");
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        throw new UsageError(`<value-json>: '${esc(redactText(raw).slice(0, 40))}' is not JSON (quote strings: '"text"')`);
      }
      try {
        checkNesting(raw);
      } catch (e) {
        throw new UsageError(`<value-json>: ${(e as Error).message.replace(/^line \d+: /, "")}`);
      }
      const validFrom = time(p, "valid-from");
      const validTo = time(p, "valid-to");
      return withStore(async (store) => {
        let r;
        try {
          r = await correct(store, { subject, attribute, key: str(p, "key"), value, validFrom, validTo, actor, reason });
        } catch (e) {
          if (e instanceof UnknownSubject || e instanceof SecretValue) throw new Refused(e.message);
          throw e;
        }
        if (out.json) out.data({ subject, attribute, batch: r.batchId, factsAdded: r.factsAdded, factsClosed: r.factsClosed });
        else out.line(shown`corrected ${subject} ${attribute}: ${r.factsAdded} added, ${r.factsClosed} superseded (old versions stay visible as known then)`);
        await auditAppend(store, { actor, action: "correct", params: { subject, attribute, key: str(p, "key") ?? "", reason }, output: out.text() });
        return EXIT.ok;
      });
    },
  },
  erase: {
    valued: ["actor", "reason"],
    run: (p, out) => {
      const subject = p.positional[0];
      if (!subject || p.positional.length > 1) throw new UsageError("erase takes one data subject (e.g. an e-mail address)");
      const actor = str(p, "actor");
      const reason = str(p, "reason");
      if (!actor || !reason) throw new UsageError("erase needs --actor and --reason");
      return withStore(async (store) => {
        const r = await erase(store, subject, actor, reason);
        if (out.json) out.data(r);
        else out.line(r.erased ? shown`erased: the key of subject ${r.subjectRef} is destroyed; their data reads [erased]` : shown`nothing to erase: no personal data is recorded under subject ${r.subjectRef}`);
        await auditAppend(store, { actor, action: "erase", params: { subjectRef: r.subjectRef, reason, erased: r.erased }, output: out.text() });
        return r.erased ? EXIT.ok : EXIT.refused;
      });
    },
  },
  // Each command takes exactly the flags it reads: a flag that would be ignored is refused as unknown.
  observe: {
    valued: OBSERVE_VALUED,
    run: (p, out) =>
      withStore(async (store) => {
        const { code, observations } = await observe(p, out, store, actorOf(p));
        await auditAppend(store, {
          actor: actorOf(p), action: "observe",
          params: { stack: str(p, "stack") ?? null, hosts: observations.map((o) => ({ host: o.host, reachable: o.reachable, output: o.outputSha256 })) },
          output: out.text(),
        });
        return code;
      }),
  },
  drift: {
    valued: ["stack", "host", "against", "ignore", "actor"],
    run: (p, out) =>
      withStore(async (store) => {
        const code = await drift(p, out, store, actorOf(p));
        await auditAppend(store, { actor: actorOf(p), action: "drift", params: { stack: str(p, "stack") ?? null, against: str(p, "against") ?? "desired", exitCode: code }, output: out.text() });
        return code;
      }),
  },
  baseline: {
    valued: ["stack", "host", "reason", "actor"],
    run: (p, out) =>
      withStore(async (store) => {
        const code = await bless(p, out, store, actorOf(p));
        await auditAppend(store, { actor: actorOf(p), action: "baseline bless", params: { name: p.positional[1], reason: str(p, "reason") ?? null }, output: out.text() });
        return code;
      }),
  },
  plan: { valued: ["stack", "target", "layer", "plan-file", "actor"], booleans: ["replace"], run: (p, out) => withStore((store) => plan(p, out, store, actorOf(p))) },
  approve: { valued: ["stack", "token", "sign-key", "actor"], run: (p, out) => withStore((store) => approve(p, out, store)) },
  apply: { valued: ["stack", "allowed-signers", "actor"], run: (p, out) => withStore((store) => apply(p, out, store, actorOf(p))) },
  backup: { valued: ["stack"], run: (p, out) => withStore((store) => backupStatus(p, out, store)) },
  restore: {
    valued: ["host", "service", "snapshot", "from-host", "stack", "actor"],
    run: (p, out) => {
      // Checked and written before the store is opened: the audit entry records a request that was made.
      const r = restore(p, out);
      return withStore(async (store) => {
        await auditAppend(store, { actor: actorOf(p), action: "restore request", params: { stack: r.stack, ...r.request }, output: out.text() });
        return r.code;
      });
    },
  },
  mcp: { valued: MCP_VALUED, booleans: MCP_BOOLEANS, run: mcp },
  audit: {
    valued: ["anchor"],
    run: (p, out) => {
      const sub = p.positional[0];
      if (sub === "anchor") {
        return withStore(async (store) => {
          out.data(await auditHead(store));
          return EXIT.ok;
        });
      }
      if (sub !== "verify") throw new UsageError("audit takes 'verify' or 'anchor'");
      let anchor: Anchor | undefined;
      const file = str(p, "anchor");
      if (file) {
        try {
          // An anchor is a line of JSON: read like recorder input (a regular file, small, UTF-8), never a FIFO.
          const a = JSON.parse(decodeUtf8(readInputFile(file, 64 * 1024))) as Anchor;
          if (!Number.isInteger(a.seq) || typeof a.hash !== "string") throw new Error("needs {seq, hash}");
          anchor = a;
        } catch (e) {
          throw new UsageError(`--anchor ${esc(file)}: ${(e as Error).message}`);
        }
      }
      return withStore(async (store) => {
        const r = await auditVerify(store, anchor);
        if (out.json) out.data({ ok: true, ...r, anchor: anchor ?? null });
        else out.line(`audit log verifies: ${r.entries} entries, head ${r.head.seq} ${r.head.hash.slice(0, 16)}…${anchor ? `, holds anchor ${anchor.seq}` : ""}; ${r.facts} stored facts match the ${r.batches} batches bound in it`);
        return EXIT.ok;
      });
    },
  },
  db: {
    valued: [],
    run: async (p, out) => {
      if (p.positional[0] !== "migrate") throw new UsageError("db takes 'migrate'");
      const url = process.env.DATABASE_URL;
      let n: number;
      if (url) {
        const admin = await openPostgres(url);
        try {
          n = await migrate(admin);
        } finally {
          await admin.close();
        }
      } else {
        n = await withStore(async () => 0); // opening the embedded store migrates it
      }
      if (out.json) out.data({ applied: n });
      else out.line(`migrations applied: ${n}`);
      return EXIT.ok;
    },
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const json = rest.includes("--json");
  const out = new Output(json);
  // An error message may echo input (a flag's value, a subject, a field of the input): escaped whole, so it
  // stays one line; the usage text, which is ours, follows it as is.
  const fail = (code: number, kind: string, msg: string, usage = "") => {
    if (json) process.stdout.write(`${safeJson({ ok: false, error: kind, message: msg, exitCode: code })}\n`);
    else process.stderr.write(`demesne ${esc(name ?? "")}: ${esc(msg)}\n${usage}`);
    return code;
  };
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) return fail(EXIT.usage, "usage", `unknown command '${name}'`, `${USAGE}\n`);
  if (rest.includes("--help") || rest.includes("-h")) {
    // The usage lines of this command (and the shared notes), so `demesne <command> --help` always works.
    const lines = USAGE.split("\n").filter((l) => l.trimStart().startsWith(`${name} `) || l.trim() === name);
    process.stdout.write(`usage: demesne ${lines.map((l) => l.trim()).join("\n       demesne ")}${name === "mcp" ? "" : " [--json]"}\n\n${USAGE.split("\n\n").slice(2).join("\n\n")}\n`);
    return EXIT.ok;
  }
  try {
    const p = parseArgs(rest, cmd.valued, ["json", ...(cmd.booleans ?? [])]);
    const code = await cmd.run(p, out);
    await new Promise<void>((r) => process.stdout.write(out.text(), () => r()));
    return code;
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof UsageError) return fail(EXIT.usage, "usage", msg);
    if (e instanceof InputError) return fail(EXIT.usage, "input", `${msg} (nothing was written)`);
    if (e instanceof IntegrityError) return fail(EXIT.integrity, "integrity", msg);
    if (e instanceof Refused) return fail(EXIT.refused, "refused", msg);
    if (/permission denied|is refused/.test(msg)) return fail(EXIT.refused, "refused", msg);
    return fail(EXIT.usage, "error", msg);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`demesne: ${escLines(String((e as Error).message))}\n`);
      process.exit(EXIT.usage);
    },
  );
}
