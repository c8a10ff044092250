// restic's text tables (internal/ui/table): a header, a dashed rule, rows, a dashed rule;
// cells padded to the widest and joined by two spaces, trailing spaces trimmed.

export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const total = widths.reduce((a, b) => a + b, 0) + (headers.length - 1) * 2;
  const line = (cells: readonly string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd()}\n`;
  const rule = `${"-".repeat(total)}\n`;
  return line(headers) + rule + rows.map(line).join("") + rule;
}

/** restic's TimeFormat ("2006-01-02 15:04:05") in local time. */
export function formatLocalTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(
    date.getMinutes(),
  )}:${p(date.getSeconds())}`;
}
