// One large file on several blob workers at once. The file is cut into segments that start at
// multiples of the chunker's MaxSize; the worker of segment i > 0 starts a chunk at its start,
// chunks `lead` bytes without storing anything, and from its first cut past that ("commit")
// on hashes and stores its chunks like any file, publishing every chunk start in shared memory.
// The worker of segment i - 1 runs past its own end until one of its cuts equals a published
// cut of segment i: from a common cut on both cut sequences are identical (a chunk's cut
// depends only on the bytes since its start), so the file's chunks are segment i - 1's up to
// that cut and segment i's from it: exactly restic's chunks of the whole file. EOF is a common
// cut, so a segment that never meets its successor simply reads to the end. A segment whose
// predecessor has already passed it gives up (its blobs stored so far stay unreferenced).
// Hand-offs are decided by compare-and-swap on the successor's state, so a segment is either
// joined by its predecessor or has given up, never both.

import type { Id } from "../id.js";
import type { FileResult, OpenedStat } from "./protocol.js";

/** Segment states (Int32, changed by compare-and-swap only). */
const RUNNING = 0;
const JOINED = 1;
const ABANDONED = 2;

/** Files at least this large are split when two or more workers run. */
export const SPLIT_MIN = 48 * 1024 * 1024;

/** Bytes a segment chunks past its start before it stores anything: two largest chunks. */
function leadBytes(maxSize: number): number {
  return 2 * maxSize;
}

/** What a worker needs to run one segment of a split file. */
export interface SegmentTask {
  readonly shared: SharedArrayBuffer;
  readonly index: number;
  readonly count: number;
  /** File offsets where each segment begins (index 0: 0). */
  readonly starts: readonly number[];
  /** Chunked but not stored after a segment's start; its first cut after this commits. */
  readonly lead: number;
  /** Capacity of each segment's published cut list. */
  readonly capacity: number;
}

/** A segment's chunks (absolute offsets) and where it stopped. */
export interface SegmentResult {
  readonly offsets: number[];
  readonly lengths: number[];
  /** 1 for chunks this segment stored as new blobs. */
  readonly fresh: number[];
  /** File offset where this segment's chunks end (its hand-off cut, or EOF). */
  readonly end: number;
  /** The segment that takes over at `end`, or -1 (EOF). */
  readonly next: number;
  /** Gave up: none of its chunks are used. */
  readonly abandoned: boolean;
}

/**
 * Segment starts (multiples of maxSize) for a file of `size` bytes on `workers` workers, each
 * segment at least `segmentMin` bytes; one start means no split.
 */
export function planSegments(
  size: number,
  workers: number,
  maxSize: number,
  segmentMin: number,
): number[] {
  const n = Math.max(1, Math.min(workers, Math.floor(size / Math.max(1, segmentMin))));
  // A segment's worker also chunks the next segment's lead: spread the work evenly.
  const share = (size - leadBytes(maxSize)) / n;
  const starts = [0];
  for (let i = 1; i < n; i++) {
    const s = Math.round((share * i) / maxSize) * maxSize;
    if (s > starts[starts.length - 1] && s < size) starts.push(s);
  }
  return starts;
}

/** Shared memory for `starts.length` segments of a `size`-byte file. */
export function segmentTasks(
  starts: readonly number[],
  size: number,
  minSize: number,
  maxSize: number,
): SegmentTask[] {
  const count = starts.length;
  // A segment may run to EOF (which may grow a little); cuts are at least minSize apart.
  const capacity = Math.ceil(size / minSize) + 64;
  const shared = new SharedArrayBuffer(8 * count + 8 * count + 8 * count * capacity);
  const lead = leadBytes(maxSize);
  return starts.map((_, index) => ({ shared, index, count, starts, lead, capacity }));
}

/** The shared state of a split file, as one worker sees it. */
export class SegmentView {
  private readonly state: Int32Array;
  private readonly counts: Int32Array;
  private readonly progress: BigInt64Array;
  private readonly cuts: BigInt64Array;
  private readonly cap: number;
  /** Successor being watched for a common cut, and how far its list was scanned. */
  private succ: number;
  private succPos = 0;
  committed: boolean;

  constructor(readonly task: SegmentTask) {
    const n = task.count;
    this.state = new Int32Array(task.shared, 0, n);
    this.counts = new Int32Array(task.shared, 4 * n, n);
    this.progress = new BigInt64Array(task.shared, 8 * n, n);
    this.cuts = new BigInt64Array(task.shared, 16 * n, n * task.capacity);
    this.cap = task.capacity;
    this.succ = task.index + 1;
    this.committed = task.index === 0;
  }

  get start(): number {
    return this.task.starts[this.task.index];
  }

  /** Whether a cut at `pos` (before it is used) commits this segment. */
  commitsAt(pos: number): boolean {
    return pos >= this.start + this.task.lead;
  }

  /** Publish a chunk start of this segment (committed segments only). */
  publish(pos: number): void {
    const i = this.task.index;
    const n = this.counts[i];
    if (n >= this.cap) return; // list full (the file grew): later cuts cannot be joined
    this.cuts[i * this.cap + n] = BigInt(pos);
    Atomics.store(this.counts, i, n + 1);
  }

  /** Record how far this segment's chunks reach (EOF: Number.MAX_SAFE_INTEGER). */
  reached(pos: number): void {
    Atomics.store(this.progress, this.task.index, BigInt(pos));
  }

  /**
   * At this segment's cut `pos`: if a later, live segment published the same cut, take it
   * over there and return its index; otherwise -1.
   */
  join(pos: number): number {
    const b = BigInt(pos);
    while (this.succ < this.task.count) {
      const j = this.succ;
      if (Atomics.load(this.state, j) === ABANDONED) {
        this.succ++;
        this.succPos = 0;
        continue;
      }
      const n = Atomics.load(this.counts, j);
      while (this.succPos < n && this.cuts[j * this.cap + this.succPos] < b) this.succPos++;
      if (this.succPos < n && this.cuts[j * this.cap + this.succPos] === b) {
        if (Atomics.compareExchange(this.state, j, RUNNING, JOINED) === RUNNING) return j;
        // it gave up meanwhile: look at the one after it
        continue;
      }
      return -1;
    }
    return -1;
  }

  /**
   * Whether this segment should give up at its cut `pos`: its nearest live predecessor has
   * already reached `pos` without joining it. Giving up is final (and refused once joined).
   */
  shouldAbandon(pos: number): boolean {
    const i = this.task.index;
    if (i === 0 || Atomics.load(this.state, i) !== RUNNING) return false;
    let p = i - 1;
    while (p > 0 && Atomics.load(this.state, p) === ABANDONED) p--;
    if (Atomics.load(this.progress, p) < BigInt(pos)) return false;
    return Atomics.compareExchange(this.state, i, RUNNING, ABANDONED) === RUNNING;
  }
}

/**
 * The whole file's result from its segments' results: segment 0's chunks up to its hand-off,
 * then the segment it handed off to from that cut, and so on to EOF.
 */
export function mergeSegments(ref: number, results: readonly FileResult[]): FileResult {
  const failed = results.find((r) => r.error !== undefined);
  if (failed !== undefined) return { ...failed, ref };
  const content: Id[] = [];
  let size = 0;
  let newBlobs = 0;
  let newBytes = 0;
  let pos = 0;
  let seg = 0;
  const stat: OpenedStat | undefined = results[0].stat;
  for (const r of results) {
    // Each segment opened the file itself: all must have read the same file.
    if (r.segment?.abandoned === false && (r.stat?.ino !== stat?.ino || r.stat?.dev !== stat?.dev))
      return {
        ref,
        error: { message: "file was replaced while it was read" },
        content: [],
        size: 0,
        newBlobs: 0,
        newBytes: 0,
      };
  }
  for (let steps = 0; steps <= results.length; steps++) {
    const r = results[seg];
    const s = r.segment;
    if (s === undefined || s.abandoned) throw new Error(`split file: segment ${seg} not usable`);
    let k = 0;
    while (k < s.offsets.length && s.offsets[k] < pos) k++;
    for (; k < s.offsets.length && s.offsets[k] < s.end; k++) {
      if (s.offsets[k] !== pos) throw new Error(`split file: gap at ${pos} in segment ${seg}`);
      content.push(r.content[k]);
      pos += s.lengths[k];
      size += s.lengths[k];
      if (s.fresh[k] === 1) {
        newBlobs++;
        newBytes += s.lengths[k];
      }
    }
    if (pos !== s.end && s.next >= 0)
      throw new Error(`split file: segment ${seg} ends at ${pos}, not ${s.end}`);
    if (s.next < 0) return { ref, stat, content, size, newBlobs, newBytes };
    seg = s.next;
  }
  throw new Error("split file: segments do not chain");
}
