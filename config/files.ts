// Reading the files the configuration consists of or names: regular files only, opened without blocking (a FIFO
// must not wait for a writer, /dev/zero must not fill the memory), size-limited, UTF-8 without NUL, and, for the
// files named inside the config (key files), inside the config folder once every link is resolved.
import { closeSync, constants, existsSync, fstatSync, openSync, readlinkSync, readSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";

/** Largest config file read, in bytes: a homelab's files are a few KiB; this stops `/dev/zero` and the like. */
export const MAX_FILE_BYTES = 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The text of a regular file; throws an Error whose message says why it cannot be used. */
export function readRegularFile(path: string, maxBytes = MAX_FILE_BYTES, within?: string): string {
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as not a regular file.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (within !== undefined) {
      // What was opened, whatever happened to the links between the check and the open.
      const opened = existsSync(`/proc/self/fd/${fd}`) ? readlinkSync(`/proc/self/fd/${fd}`) : realpathSync(path);
      if (!isInside(within, opened)) throw new Error(`it resolves to ${opened}, outside the config folder`);
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error("not a regular file");
    if (stat.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    // Read at most one byte past the limit, in case the file grows while we read it.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n <= 0) break;
      length += n;
    }
    if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    let text: string;
    try {
      text = utf8.decode(buffer.subarray(0, length));
    } catch {
      throw new Error("not UTF-8 text");
    }
    const nul = text.indexOf("\0");
    if (nul >= 0) throw new Error(`a NUL byte at offset ${Buffer.byteLength(text.slice(0, nul))}; not a text file`);
    return text;
  } catch (e) {
    throw new Error(errnoMessage(e as NodeJS.ErrnoException));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A file named in the config, relative to the config folder `dir`: its text, or why it cannot be used. Absolute
 * paths, "..", and links leading out of the folder are refused.
 */
export function readConfigFolderFile(dir: string, name: string, maxBytes: number): string {
  if (name.includes("\0")) throw new Error("a NUL character in the path");
  if (isAbsolute(name)) throw new Error("an absolute path; name a file inside the config folder, relative to it");
  let folder: string;
  try {
    folder = realpathSync(dir);
  } catch (e) {
    throw new Error(`the config folder ${dir} cannot be resolved: ${(e as NodeJS.ErrnoException).code}`);
  }
  let real: string;
  try {
    real = realpathSync(join(folder, name));
  } catch (e) {
    throw new Error(errnoMessage(e as NodeJS.ErrnoException));
  }
  if (!isInside(folder, real)) throw new Error(`it resolves to ${real}, outside the config folder`);
  return readRegularFile(real, maxBytes, folder);
}

/** `path` is inside `folder` (both resolved), not the folder itself. */
export function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

/** An error of the file system in a few words: its code and what it means here. */
function errnoMessage(e: NodeJS.ErrnoException): string {
  if (e.code === "ENOENT") return "ENOENT: no such file, or a link to nothing";
  if (e.code === "ELOOP") return "ELOOP: a loop of symbolic links";
  return e.code ? `${e.code}${e.code === e.message ? "" : `: ${e.message.replace(/^\w+: /, "")}`}` : e.message;
}
