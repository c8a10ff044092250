// An in-memory Backend (restic's internal/backend/mem): repository files in a Map keyed by
// type and name, for unit tests. Keeps every Backend contract, including copying on save
// and load so callers can never change what is stored.

import { ResticTsError } from "../errors.js";
import type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
import { checkHandle, checkRange, checkType, describeHandle, resolveRange } from "./layout.js";

let instances = 0;

export class MemoryBackend implements Backend {
  readonly location: string;
  readonly #files = new Map<FileType, Map<string, Uint8Array>>();

  constructor(label?: string) {
    instances += 1;
    this.location = `mem:${label ?? String(instances)}`;
  }

  async create(): Promise<void> {}

  async save(h: Handle, data: Uint8Array): Promise<void> {
    checkHandle(h);
    const copy = Uint8Array.from(data);
    let files = this.#files.get(h.type);
    if (files === undefined) {
      files = new Map();
      this.#files.set(h.type, files);
    }
    files.set(key(h), copy);
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    checkHandle(h);
    checkRange(range);
    const data = this.#get(h);
    const { start, end } = resolveRange(h, data.length, range);
    return data.slice(start, end);
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h);
    return { name: key(h), size: this.#get(h).length };
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkType(type);
    const files = this.#files.get(type);
    if (files === undefined) return;
    // A snapshot, so saves and removes while the caller iterates do not disturb it.
    const entries = [...files].map(([name, data]) => ({ name, size: data.length }));
    yield* entries;
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h);
    this.#get(h);
    this.#files.get(h.type)?.delete(key(h));
  }

  async close(): Promise<void> {}

  async isEmpty(): Promise<boolean> {
    for (const files of this.#files.values()) if (files.size > 0) return false;
    return true;
  }

  #get(h: Handle): Uint8Array {
    const data = this.#files.get(h.type)?.get(key(h));
    if (data === undefined) {
      throw new ResticTsError("NOT_FOUND", `${describeHandle(h)}: not found`, {
        type: h.type,
        name: key(h),
      });
    }
    return data;
  }
}

function key(h: Handle): string {
  return h.type === "config" ? "" : h.name;
}
