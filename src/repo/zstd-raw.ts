// Hashing a zstd frame's content without decompressing it, when it can be done (RFC 8878
// section 3.1.1): incompressible data — most of a backup of compressed or random files — is
// stored by restic's zstd in "raw" blocks (and runs of one byte in "RLE" blocks), whose
// content is the block itself. Verifying such a blob needs no decoder and no copy: the SHA-256
// is fed the raw blocks as they stream past. Any other frame (compressed blocks, dictionaries,
// trailing data) is left to the real decoder.

import { createHash, type Hash } from "node:crypto";

const MAGIC = 0xfd2fb528;
/** The longest frame header: magic 4, descriptor 1, window 1, dictionary ID 4, size 8. */
const MAX_FRAME_HEADER = 18;

type State = "header" | "blockHeader" | "raw" | "rle" | "checksum" | "done" | "failed";

/**
 * Streams a zstd frame (pushed in chunks of any size) and hashes its content, as long as it
 * has only raw and RLE blocks. `push` returns false as soon as the frame turns out to need the
 * decoder (or is malformed); `digest` gives the SHA-256 (hex) when the whole frame was seen,
 * its content is exactly `expectedSize` bytes and nothing follows it, else undefined.
 */
export class RawFrameHasher {
  private state: State = "header";
  private readonly pending = new Uint8Array(MAX_FRAME_HEADER);
  private pendingLength = 0;
  private readonly hash: Hash = createHash("sha256");
  private blockLeft = 0;
  private lastBlock = false;
  private checksum = false;
  private total = 0;

  constructor(private readonly expectedSize: number) {}

  private fail(): false {
    this.state = "failed";
    return false;
  }

  /** Bytes of the frame header once `pending` holds enough; undefined while more are needed. */
  private parseHeader(): number | undefined | false {
    const p = this.pending;
    const n = this.pendingLength;
    if (n < 5) return undefined;
    if ((p[0] | (p[1] << 8) | (p[2] << 16) | (p[3] << 24)) >>> 0 !== MAGIC) return false;
    const fhd = p[4];
    if (fhd & 0x08 || fhd & 0x03) return false; // reserved bit, dictionary
    const single = (fhd & 0x20) !== 0;
    this.checksum = (fhd & 0x04) !== 0;
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
    const size = 5 + (single ? 0 : 1) + fcsSize;
    if (n < size) return undefined;
    const at = 5 + (single ? 0 : 1);
    const view = new DataView(p.buffer, p.byteOffset, n);
    let declared: number | undefined;
    if (fcsSize === 1) declared = p[at];
    else if (fcsSize === 2) declared = view.getUint16(at, true) + 256;
    else if (fcsSize === 4) declared = view.getUint32(at, true);
    else if (fcsSize === 8) {
      const big = view.getBigUint64(at, true);
      declared = big > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(big);
    }
    if (declared !== undefined && declared !== this.expectedSize) return false;
    return size;
  }

  /** Feed the next bytes of the frame. */
  push(chunk: Uint8Array): boolean {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      switch (this.state) {
        case "header": {
          const take = Math.min(n - pos, MAX_FRAME_HEADER - this.pendingLength);
          this.pending.set(chunk.subarray(pos, pos + take), this.pendingLength);
          this.pendingLength += take;
          const size = this.parseHeader();
          if (size === false) return this.fail();
          if (size === undefined) {
            pos += take;
            if (this.pendingLength === MAX_FRAME_HEADER) return this.fail();
            break;
          }
          // give back the bytes taken beyond the header
          pos += take - (this.pendingLength - size);
          this.pendingLength = 0;
          this.state = "blockHeader";
          break;
        }
        case "blockHeader": {
          while (this.pendingLength < 3 && pos < n)
            this.pending[this.pendingLength++] = chunk[pos++];
          if (this.pendingLength < 3) break;
          const h = this.pending[0] | (this.pending[1] << 8) | (this.pending[2] << 16);
          this.pendingLength = 0;
          this.lastBlock = (h & 1) === 1;
          const type = (h >> 1) & 3;
          this.blockLeft = h >>> 3;
          this.total += this.blockLeft;
          if (this.total > this.expectedSize) return this.fail();
          if (type === 0) this.state = "raw";
          else if (type === 1) this.state = "rle";
          else return this.fail(); // compressed or reserved
          if (type === 0 && this.blockLeft === 0) this.endBlock();
          break;
        }
        case "raw": {
          const take = Math.min(n - pos, this.blockLeft);
          this.hash.update(chunk.subarray(pos, pos + take));
          pos += take;
          this.blockLeft -= take;
          if (this.blockLeft === 0) this.endBlock();
          break;
        }
        case "rle":
          if (this.blockLeft > 0) this.hash.update(Buffer.alloc(this.blockLeft, chunk[pos]));
          pos++;
          this.endBlock();
          break;
        case "checksum": {
          const take = Math.min(n - pos, this.blockLeft);
          pos += take;
          this.blockLeft -= take;
          if (this.blockLeft === 0) this.state = "done";
          break;
        }
        case "done":
        case "failed":
          return this.fail(); // bytes after the frame
      }
    }
    return true;
  }

  private endBlock(): void {
    if (!this.lastBlock) this.state = "blockHeader";
    else if (this.checksum) {
      this.state = "checksum";
      this.blockLeft = 4;
    } else this.state = "done";
  }

  /** The content's SHA-256 (hex) if the frame was complete and of the expected size. */
  digest(): string | undefined {
    if (this.state !== "done" || this.total !== this.expectedSize) return undefined;
    return this.hash.digest("hex");
  }
}

/** RawFrameHasher over a whole frame at once. */
export function hashRawFrame(frame: Uint8Array, expectedSize: number): string | undefined {
  const h = new RawFrameHasher(expectedSize);
  return h.push(frame) ? h.digest() : undefined;
}
