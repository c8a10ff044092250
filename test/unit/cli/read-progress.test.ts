import { describe, expect, it } from "vitest";
import { goDuration } from "../../../src/cli/commands/restore.js";
import {
  etaSeconds,
  formatBytes,
  formatDuration,
  formatPercent,
  Progress,
  progressInterval,
  restoreJsonStatus,
  restoreJsonSummary,
  restoreStatusLine,
  restoreSummaryLine,
} from "../../../src/cli/progress.js";
import { goSlice } from "../../../src/cli/read-common.js";
import { goTimeString } from "../../../src/repo/gotime.js";

describe("restic's formatting", () => {
  it("formats bytes, durations, percentages and ETAs", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1024)).toBe("1024 B");
    expect(formatBytes(1025)).toBe("1.001 KiB");
    expect(formatBytes(408907)).toBe("399.323 KiB");
    expect(formatBytes(3 * 2 ** 30 + 1)).toBe("3.000 GiB");
    // ties round to even, as Go's %.3f does (outputs of Go 1.19: 142.0625 and 142.1875 KiB)
    expect(formatBytes(145472)).toBe("142.062 KiB");
    expect(formatBytes(145600)).toBe("142.188 KiB");
    expect(formatBytes(2 ** 40 + 2 ** 29)).toBe("1.000 TiB");
    expect(formatDuration(65_900)).toBe("1:05");
    expect(formatDuration(3_725_000)).toBe("1:02:05");
    expect(formatPercent(1, 3)).toBe("33.33%");
    expect(formatPercent(5, 0)).toBe("");
    expect(formatPercent(7, 5)).toBe("100.00%");
    expect(etaSeconds(25, 100, 10_000)).toBe(30);
    expect(etaSeconds(0, 100, 10_000)).toBe(0);
    expect(goDuration(0)).toBe("0s");
    expect(goDuration(12)).toBe("12ms");
    expect(goDuration(1500)).toBe("1.5s");
    expect(goDuration(61_234)).toBe("1m1.234s");
    expect(goSlice(["/a", "/b c"])).toBe("[/a /b c]");
    expect(goSlice(null)).toBe("[]");
  });

  it("prints Go's time.Time.String of snapshot times", () => {
    expect(goTimeString("2021-05-06T07:08:09Z")).toBe("2021-05-06 07:08:09 +0000 UTC");
    expect(goTimeString("2021-05-06T07:08:09.120Z")).toBe("2021-05-06 07:08:09.12 +0000 UTC");
    // an offset that is not the local zone's keeps the numeric form twice (FixedZone "")
    const local = -new Date("2021-05-06T07:08:09Z").getTimezoneOffset();
    if (local !== 330) {
      expect(goTimeString("2021-05-06T07:08:09.5+05:30")).toBe("2021-05-06 07:08:09.5 +0530 +0530");
    }
  });

  it("builds restore status lines and JSON messages like restic 0.16", () => {
    const s = { filesDone: 2, filesTotal: 4, bytesDone: 512, bytesTotal: 2048 };
    expect(restoreStatusLine(s, 3000)).toEqual([
      "[0:03] 25.00%  2 files 512 B, total 4 files 2.000 KiB ETA 0:09",
    ]);
    expect(restoreJsonStatus(s, 3000)).toEqual({
      message_type: "status",
      seconds_elapsed: 3,
      seconds_remaining: 9,
      percent_done: 0.25,
      total_files: 4,
      files_restored: 2,
      total_bytes: 2048,
      bytes_restored: 512,
    });
    expect(restoreJsonSummary({ ...s, filesDone: 4, bytesDone: 2048 }, 999)).toEqual({
      message_type: "summary",
      total_files: 4,
      files_restored: 4,
      total_bytes: 2048,
      bytes_restored: 2048,
    });
    expect(restoreSummaryLine({ ...s, filesDone: 4, bytesDone: 2048 }, 61_000)).toBe(
      "Summary: Restored 4 Files (2.000 KiB) in 1:01",
    );
    expect(restoreSummaryLine(s, 1000)).toBe(
      "Summary: Restored 2 / 4 Files (512 B / 2.000 KiB) in 0:01",
    );
  });
});

describe("Progress", () => {
  it("redraws status lines in place on a terminal and clears them at the end", () => {
    let out = "";
    let n = 0;
    const p = new Progress({
      mode: "tty",
      sink: { write: (t) => (out += t), columns: 20 },
      state: () => ++n,
      statusLines: (st) => [`status ${st} with a long tail`, `second ${st}`],
      intervalMs: 1_000_000,
    }).begin();
    p.refresh();
    p.refresh();
    p.print("a message");
    p.end();
    expect(out).toBe(
      "status 1 with a lon\nsecond 1" + // first draw, truncated to the width
        "\r\x1b[2K\x1b[1A\x1b[2Kstatus 2 with a lon\nsecond 2" + // redraw over it
        "\r\x1b[2K\x1b[1A\x1b[2Ka message\nstatus 3 with a lon\nsecond 3" + // a line above
        "\r\x1b[2K\x1b[1A\x1b[2K", // cleared
    );
  });

  it("prints JSON status lines, and nothing in mode none", () => {
    let out = "";
    const p = new Progress({
      mode: "json",
      sink: { write: (t) => (out += t) },
      state: () => ({ filesDone: 1, filesTotal: 1, bytesDone: 0, bytesTotal: 0 }),
      jsonStatus: restoreJsonStatus,
    });
    p.refresh();
    expect(JSON.parse(out)).toMatchObject({ message_type: "status", percent_done: 0 });
    out = "";
    const q = new Progress({ mode: "none", sink: { write: (t) => (out += t) }, state: () => 0 });
    q.begin().refresh();
    q.end();
    expect(out).toBe("");
  });

  it("takes the refresh rate from RESTIC_PROGRESS_FPS", () => {
    expect(progressInterval("tty", {})).toBe(100);
    expect(progressInterval("json", {})).toBe(1000);
    expect(progressInterval("json", { RESTIC_PROGRESS_FPS: "4" })).toBe(250);
    expect(progressInterval("tty", { RESTIC_PROGRESS_FPS: "600" })).toBeCloseTo(1000 / 60);
  });
});
