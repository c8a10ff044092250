// Progress output shared by long-running commands (restic's internal/ui/progress, termstatus
// and the restore/backup printers of restic 0.14-0.16): on a terminal, status lines redrawn in
// place (carriage return, clear line, cursor up for several lines); with --json, one
// restic-style JSON `status` object per interval and a `summary` at the end; nothing with
// --quiet. Commands supply what the lines say (`statusLines`, `jsonStatus`, ...) from their own
// counters; the generic counters, elapsed time, percentage and ETA are computed here.
//
// Refresh: RESTIC_PROGRESS_FPS (as restic; max 60) or 10 per second on a terminal and one JSON
// status per second.

/** Where progress goes: a terminal (redrawn in place), JSON lines, or nowhere. */
export type ProgressMode = "tty" | "json" | "none";

export interface ProgressSink {
  write(text: string): void;
  /** Terminal width, for truncating status lines. */
  readonly columns?: number;
}

export interface ProgressOptions<S> {
  readonly mode: ProgressMode;
  readonly sink: ProgressSink;
  /** Current state, read at every refresh. */
  readonly state: () => S;
  /** Terminal lines for a state (first line is the main status). */
  readonly statusLines?: (state: S, elapsedMs: number) => string[];
  /** The JSON status object for a state. */
  readonly jsonStatus?: (state: S, elapsedMs: number) => object;
  /** Refresh interval; default from RESTIC_PROGRESS_FPS, else 100 ms (tty) / 1 s (json). */
  readonly intervalMs?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Interval between updates: RESTIC_PROGRESS_FPS when set (capped at 60), else the default. */
export function progressInterval(
  mode: ProgressMode,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  const fps = Number.parseFloat(env.RESTIC_PROGRESS_FPS ?? "");
  if (Number.isFinite(fps) && fps > 0) return 1000 / Math.min(fps, 60);
  return mode === "tty" ? 100 : 1000;
}

export class Progress<S> {
  private timer: NodeJS.Timeout | undefined;
  private readonly start = Date.now();
  private shownLines = 0;
  private stopped = false;

  constructor(private readonly opts: ProgressOptions<S>) {}

  get elapsedMs(): number {
    return Date.now() - this.start;
  }

  /** Start refreshing (no-op for mode "none"). */
  begin(): this {
    if (this.opts.mode === "none" || this.timer) return this;
    const interval = this.opts.intervalMs ?? progressInterval(this.opts.mode, this.opts.env);
    this.timer = setInterval(() => this.refresh(), interval);
    this.timer.unref();
    return this;
  }

  /** Draw (or print) the current state now. */
  refresh(): void {
    if (this.stopped) return;
    const state = this.opts.state();
    if (this.opts.mode === "json" && this.opts.jsonStatus) {
      this.opts.sink.write(`${JSON.stringify(this.opts.jsonStatus(state, this.elapsedMs))}\n`);
    } else if (this.opts.mode === "tty" && this.opts.statusLines) {
      this.draw(this.opts.statusLines(state, this.elapsedMs));
    }
  }

  /** Print a line above the status lines (terminal) or as it is (otherwise). */
  print(line: string): void {
    if (this.opts.mode === "tty" && this.shownLines > 0) {
      const lines = this.clearSequence();
      this.shownLines = 0;
      this.opts.sink.write(`${lines}${line.endsWith("\n") ? line : `${line}\n`}`);
      this.refresh();
    } else {
      this.opts.sink.write(line.endsWith("\n") ? line : `${line}\n`);
    }
  }

  /** Stop refreshing and remove the status lines from the terminal. */
  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.opts.mode === "tty" && this.shownLines > 0) {
      this.opts.sink.write(this.clearSequence());
      this.shownLines = 0;
    }
    this.stopped = true;
  }

  private clearSequence(): string {
    // move to the first status line, clearing each
    let s = "\r\x1b[2K";
    for (let i = 1; i < this.shownLines; i++) s += "\x1b[1A\x1b[2K";
    return s;
  }

  private draw(lines: string[]): void {
    const width = this.opts.sink.columns;
    const fitted = lines.map((l) =>
      width !== undefined && width > 1 && l.length >= width ? `${l.slice(0, width - 1)}` : l,
    );
    let out = this.shownLines > 0 ? this.clearSequence() : "";
    out += fitted.join("\n");
    this.shownLines = fitted.length;
    this.opts.sink.write(out);
  }
}

// --- restic's formatting (internal/ui/format.go) ------------------------------------------

/** restic's FormatBytes: "%d B" up to 1 KiB, else "%.3f KiB/MiB/GiB/TiB". */
export function formatBytes(c: number): string {
  if (c > 2 ** 40) return `${fixed3(c, 40)} TiB`;
  if (c > 2 ** 30) return `${fixed3(c, 30)} GiB`;
  if (c > 2 ** 20) return `${fixed3(c, 20)} MiB`;
  if (c > 2 ** 10) return `${fixed3(c, 10)} KiB`;
  return `${c} B`;
}

/**
 * Go's %.3f of c / 2^shift: a tie (142.0625) rounds to even as Go does ("142.062"), where
 * toFixed rounds it up.
 */
function fixed3(c: number, shift: number): string {
  if (!Number.isSafeInteger(c)) return (c / 2 ** shift).toFixed(3);
  const num = BigInt(c) * 1000n;
  const den = 1n << BigInt(shift);
  let q = num / den;
  const twice = 2n * (num % den);
  if (twice > den || (twice === den && q % 2n === 1n)) q++;
  const digits = q.toString().padStart(4, "0");
  return `${digits.slice(0, -3)}.${digits.slice(-3)}`;
}

/** restic's FormatSeconds: "m:ss" or "h:mm:ss". */
export function formatSeconds(sec: number): string {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  const p = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${p(m)}:${p(s)}` : `${m}:${p(s)}`;
}

/** restic's FormatDuration of milliseconds. */
export function formatDuration(ms: number): string {
  return formatSeconds(ms / 1000);
}

/** restic's FormatPercent: "%3.2f%%" capped at 100, "" when the total is 0. */
export function formatPercent(done: number, total: number): string {
  if (total === 0) return "";
  const p = Math.min(100, (100 * done) / total);
  return `${p.toFixed(2)}%`;
}

/** Seconds left at the average rate so far (0 when unknown), as restic's ETA estimate. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number {
  if (done <= 0 || total <= done || elapsedMs <= 0) return 0;
  return Math.round(((total - done) * elapsedMs) / done / 1000);
}

// --- restore (restic 0.16 internal/ui/restore) -------------------------------------------

export interface RestoreProgressState {
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** The terminal status line of `restore`. */
export function restoreStatusLine(s: RestoreProgressState, elapsedMs: number): string[] {
  const eta = etaSeconds(s.bytesDone, s.bytesTotal, elapsedMs);
  const percent = formatPercent(s.bytesDone, s.bytesTotal);
  return [
    `[${formatDuration(elapsedMs)}] ${percent}  ${s.filesDone} files ${formatBytes(s.bytesDone)}, total ${s.filesTotal} files ${formatBytes(s.bytesTotal)}${eta > 0 ? ` ETA ${formatSeconds(eta)}` : ""}`,
  ];
}

/** restic's JSON status message of `restore` (zero fields omitted as Go's omitempty does). */
export function restoreJsonStatus(s: RestoreProgressState, elapsedMs: number): object {
  const out: Record<string, unknown> = { message_type: "status" };
  const secs = Math.floor(elapsedMs / 1000);
  if (secs) out.seconds_elapsed = secs;
  const eta = etaSeconds(s.bytesDone, s.bytesTotal, elapsedMs);
  if (eta) out.seconds_remaining = eta;
  out.percent_done = s.bytesTotal > 0 ? s.bytesDone / s.bytesTotal : 0;
  if (s.filesTotal) out.total_files = s.filesTotal;
  if (s.filesDone) out.files_restored = s.filesDone;
  if (s.bytesTotal) out.total_bytes = s.bytesTotal;
  if (s.bytesDone) out.bytes_restored = s.bytesDone;
  return out;
}

/** restic's JSON summary message of `restore`. */
export function restoreJsonSummary(s: RestoreProgressState, elapsedMs: number): object {
  const out: Record<string, unknown> = { message_type: "summary" };
  const secs = Math.floor(elapsedMs / 1000);
  if (secs) out.seconds_elapsed = secs;
  if (s.filesTotal) out.total_files = s.filesTotal;
  if (s.filesDone) out.files_restored = s.filesDone;
  if (s.bytesTotal) out.total_bytes = s.bytesTotal;
  if (s.bytesDone) out.bytes_restored = s.bytesDone;
  return out;
}

/** restic's closing line of a text-mode restore. */
export function restoreSummaryLine(s: RestoreProgressState, elapsedMs: number): string {
  const took = formatDuration(elapsedMs);
  if (s.filesDone === s.filesTotal && s.bytesDone === s.bytesTotal) {
    return `Summary: Restored ${s.filesTotal} Files (${formatBytes(s.bytesTotal)}) in ${took}`;
  }
  return `Summary: Restored ${s.filesDone} / ${s.filesTotal} Files (${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)}) in ${took}`;
}
