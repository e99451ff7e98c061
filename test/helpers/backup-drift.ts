// A status file read from a host, judged as `demesne observe` and `demesne drift` would: the observer's parser
// turns it into facts, the backup rule turns them into findings at a clock the test holds still.
import { backupFindings } from "../../state-model/drift/backup";
import { parseBackupStatus } from "../../state-model/observe/parse-backup";

/** `<key> <severity>: <why>` for each backup finding on the host at `now` (ms since the epoch). */
export function backupFindingLines(host: string, statusFile: string, now: number): string[] {
    const facts = parseBackupStatus(statusFile);
    return backupFindings({ host, facts, probes: { backup: "ok" } }, now).map((f) => `${f.key} ${f.severity}: ${f.why}`);
}
