// What the recorder reads: a regular file or stdin, up to a size limit, as strict UTF-8. A FIFO or a device
// would be read until it hangs or memory runs out, and replaced bytes would be recorded as if they were the
// input; each is refused before anything is parsed, with the path, the limit or the line named.
import * as fs from "node:fs";
import { InputError } from "./errors";

/** Default for `ingest --max-bytes` / DEMESNE_INGEST_MAX_BYTES: well above a large stack's event log. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

const UNITS: Record<string, number> = { "": 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** `1048576`, `512KiB`, `256MiB`, `1GiB` (binary units) → bytes; undefined when it is not such a size. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const tooBig = (source: string, max: number) =>
  new InputError(undefined, undefined, `${source} is larger than the limit of ${max} bytes (raise it with --max-bytes or DEMESNE_INGEST_MAX_BYTES)`);

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** A regular file, read whole up to `max` bytes. Opened without blocking, so a FIFO is refused, not waited on. */
export function readInputFile(file: string, max: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENXIO: a socket (or a FIFO with no writer on some systems) cannot be opened for reading.
    const why = code === "ENXIO" ? "a socket or device; the recorder reads regular files and stdin only" : (code ?? (e as Error).message);
    throw new InputError(undefined, undefined, `cannot read ${file}: ${why}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(undefined, undefined, `${file} is ${kindOf(st)}: the recorder reads regular files and stdin (-) only`);
    if (st.size > max) throw tooBig(file, max);
    const chunks: Buffer[] = [];
    let total = 0;
    // Read until EOF, not to the size stat saw: the file may grow, and the limit holds whatever it does.
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, max + 1 - total));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) throw tooBig(file, max);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}

/** All of a stream (stdin) up to `max` bytes; more is refused as soon as it arrives. Read as a stream: a
 *  synchronous read of a pipe another process holds open fails with EAGAIN. */
export async function readInputStream(stream: NodeJS.ReadableStream & { destroy?(): void }, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    const b = typeof c === "string" ? Buffer.from(c) : (c as Buffer);
    total += b.length;
    if (total > max) {
      stream.destroy?.();
      throw tooBig("stdin", max);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}

/** Strict UTF-8: bytes that are not UTF-8 are refused with their line and byte offset, never replaced. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    throw new InputError(line, undefined, `not UTF-8 (invalid byte 0x${bytes[offset]?.toString(16).padStart(2, "0") ?? "??"} at byte offset ${offset})`);
  }
}

/** The offset of the first byte that starts no valid UTF-8 sequence (the error path only). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    // Sequence length and the allowed range of its second byte (no overlongs, surrogates or > U+10FFFF).
    const [n, lo, hi] =
      c < 0x80 ? [1, 0, 0] : c >= 0xc2 && c <= 0xdf ? [2, 0x80, 0xbf] : c === 0xe0 ? [3, 0xa0, 0xbf] : c === 0xed ? [3, 0x80, 0x9f]
        : c >= 0xe1 && c <= 0xef ? [3, 0x80, 0xbf] : c === 0xf0 ? [4, 0x90, 0xbf] : c >= 0xf1 && c <= 0xf3 ? [4, 0x80, 0xbf] : c === 0xf4 ? [4, 0x80, 0x8f] : [0, 0, 0];
    if (n === 0) return i;
    if (n > 1 && !(b[i + 1] !== undefined && b[i + 1]! >= lo && b[i + 1]! <= hi)) return i;
    for (let k = 2; k < n; k++) if (!(b[i + k] !== undefined && b[i + k]! >= 0x80 && b[i + k]! <= 0xbf)) return i;
    i += n;
  }
  return b.length;
}
