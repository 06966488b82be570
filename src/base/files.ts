// Writing a file so that a process killed at any instant leaves either the old file or the new
// one, never half of it: write a temporary file beside it, then rename it into place (atomic on
// one filesystem). Node only. A rename survives a killed process; surviving a power cut would
// also need an fsync, which nothing here asks for.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

let counter = 0;

/** Writes `data` to `path` atomically, creating its folder; `mode` sets the new file's permissions (e.g. 0o600 for keys). */
export async function writeFileAtomically(path: string, data: Uint8Array | string, options: { mode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${counter++}`;
  try {
    await writeFile(tmp, data, { mode: options.mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** `value` as indented JSON with a final newline, written atomically. */
export function writeJsonAtomically(path: string, value: unknown, options: { mode?: number } = {}): Promise<void> {
  return writeFileAtomically(path, JSON.stringify(value, null, 2) + '\n', options);
}
