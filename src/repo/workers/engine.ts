// The CPU half of a backup, run inside a blob worker (or inline on the main thread): read
// files, split them into restic's content-defined chunks, SHA-256 each chunk (its blob ID),
// claim the new ones from the main thread, then zstd-compress (repository v2) and seal them
// (restic design.rst "Pack Format") into a data pack of about the target size, whose header
// is sealed and appended when the pack is full. Files are read into WebAssembly memory so
// zstd works on them without copies; every buffer is allocated once and reused. A large file
// may come as one segment of several, each on its own worker (split.ts). For a local
// repository (cfg.packFiles) a pack is not held whole: small sealed blobs gather in a stage
// buffer that is written to the pack's temp file whenever it fills, large ones are written from
// where they were sealed, as restic writes its packs.
// With cfg.fileNodes a whole file's tree node is written here too (the JSON restic stores,
// from the descriptor's fstat): the walking main thread then only places the text.

import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { Chunker } from "../../chunker/index.js";
import { sha256Hex } from "../../crypto/hash.js";
import {
  decodeMasterKey,
  type MasterKey,
  SEAL_OVERHEAD,
  sealInto,
} from "../../crypto/master-key.js";
import { NameCache, nodeFromStat } from "../archiver/fsnode.js";
import { FfiXattrs } from "../archiver/xattr-ffi.js";
import { RawZstd } from "../compression.js";
import type { Id } from "../id.js";
import { SharedDataBlobSet, type SharedDataBlobs } from "../master-index.js";
import { type ExtendedAttribute, serialiseNode } from "../node.js";
import {
  buildPackHeader,
  COMPRESSED_ENTRY_SIZE,
  HEADER_LENGTH_SIZE,
  type PackBlob,
} from "../pack.js";
import type { EngineConfig, FileResult, FileTask, FinishedPack, OpenedStat } from "./protocol.js";
import { type SegmentResult, SegmentView } from "./split.js";

/** Room reserved in a pack buffer for the sealed header. */
export const HEADER_RESERVE = 256 * 1024;
const MAX_ENTRIES = Math.floor(
  (HEADER_RESERVE - SEAL_OVERHEAD - HEADER_LENGTH_SIZE) / COMPRESSED_ENTRY_SIZE,
);
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** Bytes a pack buffer needs for `cfg`: the target size (or one largest blob) plus the header. */
export function packCapacity(cfg: Pick<EngineConfig, "packSize" | "maxSize">): number {
  return Math.max(cfg.packSize, cfg.maxSize + 1024) + HEADER_RESERVE;
}

/**
 * Sealed blobs gathered before a write to a pack file (cfg.packFiles): the stage is written out
 * once this much is in it.
 */
const STAGE_GATHER = 1024 * 1024;
/**
 * A sealed blob larger than this does not go through the stage (cfg.packFiles): it is sealed in
 * zstd's output area (a frame in place) and written from there, so the stage stays this small
 * and a large blob is not copied once more (random data: ~5-7 MiB less per worker).
 */
const DIRECT_WRITE = 256 * 1024;

/** What the engine needs from its surroundings; every call is synchronous. */
export interface EngineHost {
  /** For each ID: 1 = store it (it is new and now claimed by this engine), 0 = known. */
  claim(ids: Id[], bytesRead: number): Uint8Array;
  /** File bytes read since the last claim, when there is nothing to claim (progress). */
  read?(bytes: number): void;
  /** An empty pack buffer of at least packCapacity bytes (may block until one is free). */
  takeBuffer(): ArrayBuffer;
  /** A new temp file for a pack (cfg.packFiles): its path and an open descriptor to write. */
  takeFile(): { path: string; fd: number };
  /** A finished pack; the buffer now belongs to the host. */
  packFinished(pack: FinishedPack): void;
}

interface Pending {
  readonly file: FileState;
  readonly id: Id;
  readonly off: number;
  readonly len: number;
  /** The chunk's index in its file's content. */
  readonly index: number;
}

interface FileState {
  ref: number;
  content: Id[];
  size: number;
  newBlobs: number;
  newBytes: number;
  stat?: OpenedStat;
  xattrs?: ExtendedAttribute[] | null;
  error?: { message: string; code?: string };
  /** Segment tasks: 1 per chunk this engine stored as a new blob. */
  fresh?: number[];
  segment?: SegmentResult;
  /** An unsized task's size, when it was too large to read (FileTask.unsized). */
  unread?: number;
}

function statOf(fd: number): { stat: OpenedStat; regular: boolean; size: number } {
  const s = fstatSync(fd, { bigint: true });
  const mode = Number(s.mode);
  return {
    regular: (mode & S_IFMT) === S_IFREG,
    size: Number(s.size),
    stat: {
      mode,
      uid: Number(s.uid),
      gid: Number(s.gid),
      ino: s.ino,
      dev: s.dev,
      nlink: s.nlink,
      mtimeNs: s.mtimeNs,
      ctimeNs: s.ctimeNs,
      atimeNs: s.atimeNs,
    },
  };
}

export class BlobEngine {
  private readonly key: MasterKey;
  private readonly chunker: Chunker;
  private readonly cap: number;
  /** Reads whole files' extended attributes (cfg.xattrs, where koffi loads). */
  private readonly xattrs: FfiXattrs | undefined;
  /** The data blobs indexed when the backup began (setKnown). */
  private known: SharedDataBlobSet | undefined;
  /** User and group names for the nodes this engine writes (cfg.fileNodes). */
  private names: NameCache | undefined;
  /** The open pack's buffer: the whole pack, or (packFile) the stage of its unwritten tail. */
  private pack: Uint8Array | undefined;
  /** Bytes of the open pack so far. */
  private packLen = 0;
  /** The open pack's temp file, and how many of its bytes are written there (packFiles). */
  private packFile: { path: string; fd: number; written: number } | undefined;
  private stage: Uint8Array | undefined;
  private packHash: Hash | undefined;
  /** The open pack's blobs: its header entries, and its index entries once it is stored. */
  private blobs: PackBlob[] = [];
  private pending: Pending[] = [];
  private bytesRead = 0;
  /** Bytes of the input buffer in use (the chunks of files not stored yet, and the open one). */
  private fill = 0;

  private constructor(
    private readonly cfg: EngineConfig,
    private readonly host: EngineHost,
    private readonly zstd: RawZstd,
  ) {
    this.key = decodeMasterKey(cfg.key);
    this.chunker = new Chunker(cfg.polynomial, { minSize: cfg.minSize, maxSize: cfg.maxSize });
    this.cap = zstd.inputSize;
    this.xattrs = cfg.xattrs === true ? FfiXattrs.load() : undefined;
  }

  static async create(cfg: EngineConfig, host: EngineHost): Promise<BlobEngine> {
    const zstd = await RawZstd.create(cfg.maxSize + cfg.readSize, cfg.maxSize);
    return new BlobEngine(cfg, host, zstd);
  }

  /**
   * The data blobs the index held when the backup began: a chunk found there is known at once,
   * without a claim (whose answer for it would be the same) and the wait for the main thread.
   */
  setKnown(blobs: SharedDataBlobs): void {
    this.known = new SharedDataBlobSet(blobs);
  }

  /** Read, chunk and store `files` (in order); one result per file. */
  processFiles(files: readonly FileTask[]): FileResult[] {
    const states: FileState[] = [];
    this.fill = 0;
    for (const task of files) {
      const st: FileState = { ref: task.ref, content: [], size: 0, newBlobs: 0, newBytes: 0 };
      states.push(st);
      let fd = -1;
      try {
        const p =
          typeof task.path === "string"
            ? task.path
            : Buffer.from(task.path.buffer, task.path.byteOffset, task.path.byteLength);
        fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        const { stat, regular, size } = statOf(fd);
        if (!regular)
          throw Object.assign(new Error("file changed type, refusing to archive"), {
            code: "ETYPE",
          });
        if (task.unsized === true && size > (this.cfg.unsizedMax ?? Number.POSITIVE_INFINITY)) {
          st.unread = size;
          continue;
        }
        st.stat = stat;
        if (task.segment === undefined) {
          if (this.xattrs !== undefined) st.xattrs = this.xattrs.readFd(fd) ?? null;
          this.readWhole(fd, st);
        } else this.readSegment(fd, st, new SegmentView(task.segment));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        st.error = { message: e.message ?? String(err), code: e.code };
        st.content = [];
        // Chunks of this file that were not claimed yet are dropped with it.
        this.pending = this.pending.filter((p) => p.file !== st);
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
    this.flushPending();
    return states.map((s, i) => this.result(s, files[i].name));
  }

  private result(s: FileState, name: string | undefined): FileResult {
    if (s.error !== undefined) {
      return { ref: s.ref, error: s.error, content: [], size: 0, newBlobs: 0, newBytes: 0 };
    }
    if (s.unread !== undefined) {
      return { ref: s.ref, content: [], size: 0, newBlobs: 0, newBytes: 0, unread: s.unread };
    }
    const { ref, size, newBlobs, newBytes } = s;
    const opts = this.cfg.fileNodes;
    if (
      opts !== undefined &&
      name !== undefined &&
      s.stat !== undefined &&
      s.segment === undefined &&
      (s.xattrs !== undefined || opts.xattrsOff)
    ) {
      this.names ??= new NameCache();
      const node = nodeFromStat(name, s.stat, "", { withAtime: opts.withAtime, names: this.names });
      node.size = size;
      node.content = s.content;
      if (s.xattrs != null && s.xattrs.length > 0) node.extendedAttributes = s.xattrs;
      return { ref, content: [], size, newBlobs, newBytes, node: serialiseNode(node) };
    }
    return {
      ref,
      stat: s.stat,
      content: s.content,
      size,
      newBlobs,
      newBytes,
      ...(s.segment === undefined ? {} : { segment: s.segment }),
      ...(s.xattrs === undefined ? {} : { xattrs: s.xattrs }),
    };
  }

  /** Make room at the end of the input buffer: store the chunks cut so far, keep the open one. */
  private compact(chunkStart: number): void {
    this.flushPending();
    this.zstd.input.copyWithin(0, chunkStart, this.fill);
    this.fill -= chunkStart;
  }

  /** The whole file from its current position (files of a batch follow each other in input). */
  private readWhole(fd: number, st: FileState): void {
    this.chunker.reset();
    let chunkStart = this.fill;
    for (;;) {
      if (this.fill === this.cap) {
        this.compact(chunkStart);
        chunkStart = 0;
      }
      const input = this.zstd.input;
      const want = Math.min(this.cfg.readSize, this.cap - this.fill);
      const n = readSync(fd, input, this.fill, want, null);
      if (n === 0) break;
      let i = this.fill;
      this.fill += n;
      st.size += n;
      this.bytesRead += n;
      for (;;) {
        const cut = this.chunker.next(input, i, this.fill);
        if (cut < 0) break;
        this.addChunk(st, input, chunkStart, cut - chunkStart);
        chunkStart = cut;
        i = cut;
      }
      // a short read of a regular file is its end: spare the read(2) that returns 0
      if (n < want) break;
    }
    if (this.chunker.finish() !== null)
      this.addChunk(st, this.zstd.input, chunkStart, this.fill - chunkStart);
  }

  /** One segment of a file split over several workers (split.ts). */
  private readSegment(fd: number, st: FileState, seg: SegmentView): void {
    const offsets: number[] = [];
    const lengths: number[] = [];
    const fresh: number[] = [];
    st.fresh = fresh;
    this.chunker.reset();
    let chunkStart = this.fill;
    let delta = seg.start - this.fill; // file offset = index in input + delta
    let end = -1;
    let next = -1;
    let abandoned = false;
    const add = (from: number, to: number) => {
      offsets.push(from + delta);
      lengths.push(to - from);
      fresh.push(0);
      this.addChunk(st, this.zstd.input, from, to - from);
    };
    read: for (;;) {
      if (this.fill === this.cap) {
        this.compact(chunkStart);
        delta += chunkStart;
        chunkStart = 0;
      }
      const input = this.zstd.input;
      const want = Math.min(this.cfg.readSize, this.cap - this.fill);
      const n = readSync(fd, input, this.fill, want, this.fill + delta);
      if (n === 0) break;
      let i = this.fill;
      this.fill += n;
      st.size += n;
      this.bytesRead += n;
      for (;;) {
        const cut = this.chunker.next(input, i, this.fill);
        if (cut < 0) break;
        const at = cut + delta;
        if (seg.committed) add(chunkStart, cut);
        else if (seg.commitsAt(at)) seg.committed = true;
        chunkStart = cut;
        i = cut;
        if (seg.committed) {
          seg.publish(at);
          seg.reached(at);
          const j = seg.join(at);
          if (j >= 0) {
            end = at;
            next = j;
            break read;
          }
        }
        if (seg.shouldAbandon(at)) {
          abandoned = true;
          break read;
        }
      }
      if (n < want) break;
    }
    if (end < 0 && !abandoned) {
      end = this.fill + delta;
      if (this.chunker.finish() !== null && seg.committed) {
        add(chunkStart, this.fill);
        chunkStart = this.fill;
      }
      seg.reached(Number.MAX_SAFE_INTEGER);
    }
    if (abandoned) {
      this.pending = this.pending.filter((p) => p.file !== st);
      st.content = [];
    }
    this.fill = chunkStart; // nothing of a segment stays in the buffer for the next file
    st.segment = abandoned
      ? { offsets: [], lengths: [], fresh: [], end, next: -1, abandoned }
      : { offsets, lengths, fresh, end, next, abandoned };
  }

  private addChunk(file: FileState, input: Uint8Array, off: number, len: number): void {
    const id = sha256Hex(input.subarray(off, off + len));
    this.pending.push({ file, id, off, len, index: file.content.length });
    file.content.push(id);
  }

  /** Claim the pending chunks (those not known already) and store those that are new. */
  private flushPending(): void {
    if (this.pending.length === 0) return;
    const known = this.known;
    const ask = known === undefined ? this.pending : this.pending.filter((p) => !known.has(p.id));
    if (ask.length === 0) {
      this.host.read?.(this.bytesRead);
      this.bytesRead = 0;
      this.pending = [];
      return;
    }
    const store = this.host.claim(
      ask.map((p) => p.id),
      this.bytesRead,
    );
    this.bytesRead = 0;
    for (let i = 0; i < ask.length; i++) {
      if (store[i] !== 1) continue;
      const p = ask[i];
      this.storeBlob(p.id, p.off, p.len);
      p.file.newBlobs++;
      p.file.newBytes += p.len;
      if (p.file.fresh !== undefined) p.file.fresh[p.index] = 1;
    }
    this.pending = [];
  }

  private storeBlob(id: Id, off: number, len: number): void {
    let data = this.zstd.input.subarray(off, off + len);
    let uncompressedLength: number | undefined;
    if (this.cfg.zstdLevel !== undefined && this.cfg.repoVersion >= 2) {
      const z = this.zstd.compress(off, len, this.cfg.zstdLevel);
      // Incompressible data is stored as it is (a plain entry is valid in v2 too).
      if (z.length < len) {
        data = z;
        uncompressedLength = len;
      } else {
        // compressing may have grown WebAssembly memory, detaching views taken before
        data = this.zstd.input.subarray(off, off + len);
      }
    }
    const need = data.length + SEAL_OVERHEAD;
    if (
      this.pack !== undefined &&
      (this.packLen + need > this.cfg.packSize || this.blobs.length >= MAX_ENTRIES)
    ) {
      this.finishPack();
    }
    if (this.pack === undefined) this.openPack();
    let sealed: Uint8Array;
    if (this.packFile !== undefined && need > DIRECT_WRITE) {
      this.writeOut();
      const area = this.zstd.sealArea;
      sealed = area.subarray(0, sealInto(this.key, data, area, 0));
      this.writeFile(sealed);
    } else {
      const pack = this.room(need);
      const at = this.packLen - (this.packFile?.written ?? 0);
      sealed = pack.subarray(at, at + sealInto(this.key, data, pack, at));
    }
    const n = sealed.length;
    this.packHash?.update(sealed);
    this.blobs.push(
      uncompressedLength === undefined
        ? { type: "data", id, offset: this.packLen, length: n }
        : { type: "data", id, offset: this.packLen, length: n, uncompressedLength },
    );
    this.packLen += n;
    if (this.packFile !== undefined && this.packLen - this.packFile.written >= STAGE_GATHER) {
      this.writeOut();
    }
  }

  private openPack(): void {
    this.packLen = 0;
    this.packHash = createHash("sha256");
    if (this.cfg.packFiles !== true) {
      this.pack = new Uint8Array(this.host.takeBuffer());
      return;
    }
    const { path, fd } = this.host.takeFile();
    this.packFile = { path, fd, written: 0 };
    this.stage ??= new Uint8Array(
      STAGE_GATHER + Math.max(DIRECT_WRITE, HEADER_RESERVE + HEADER_LENGTH_SIZE) + SEAL_OVERHEAD,
    );
    this.pack = this.stage;
  }

  /** The open pack's buffer, with room for `need` more bytes (written out to its file if not). */
  private room(need: number): Uint8Array {
    const pack = this.pack as Uint8Array;
    const file = this.packFile;
    if (file !== undefined && this.packLen - file.written + need > pack.length) this.writeOut();
    return pack;
  }

  /** Write the stage to the open pack's file. */
  private writeOut(): void {
    const file = this.packFile as { written: number };
    this.writeFile((this.pack as Uint8Array).subarray(0, this.packLen - file.written));
  }

  /** Append `bytes` (the pack's next bytes: the stage, or a blob sealed elsewhere) to its file. */
  private writeFile(bytes: Uint8Array): void {
    const file = this.packFile as { fd: number; written: number };
    for (let off = 0; off < bytes.length; ) {
      off += writeSync(file.fd, bytes, off, bytes.length - off, file.written + off);
    }
    file.written += bytes.length;
  }

  /** Seal the header onto the open pack and hand it over. */
  private finishPack(): void {
    if (this.pack === undefined || this.blobs.length === 0) return;
    const header = buildPackHeader(this.blobs);
    const pack = this.room(header.length + SEAL_OVERHEAD + HEADER_LENGTH_SIZE);
    const at = this.packLen - (this.packFile?.written ?? 0);
    const n = sealInto(this.key, header, pack, at);
    new DataView(pack.buffer, pack.byteOffset).setUint32(at + n, n, true);
    const total = this.packLen + n + HEADER_LENGTH_SIZE;
    const hash = this.packHash ?? createHash("sha256");
    hash.update(pack.subarray(at, at + n + HEADER_LENGTH_SIZE));
    const id = hash.digest("hex");
    const blobs = this.blobs;
    const file = this.packFile;
    this.packLen = total;
    if (file !== undefined) this.writeOut();
    this.pack = undefined;
    this.packFile = undefined;
    this.packHash = undefined;
    this.blobs = [];
    this.packLen = 0;
    this.host.packFinished(
      file !== undefined
        ? { id, path: file.path, length: total, blobs }
        : { id, buffer: pack.buffer as ArrayBuffer, length: total, blobs },
    );
  }

  /** Finish the open pack, if any (end of the backup). */
  flush(): void {
    this.flushPending();
    this.finishPack();
  }
}
