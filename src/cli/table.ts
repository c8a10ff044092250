// restic's text tables (internal/ui/table) and its TimeFormat.

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * restic's internal/ui/table: header, dashed rule, rows (a cell may hold several lines), dashed
 * rule, footer lines; cells padded to the widest (in bytes, as Go's len) and joined by two
 * spaces, trailing spaces trimmed; optionally a blank line between rows.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  footer: readonly string[] = [],
  blankLineBetweenRows = false,
): string {
  const widths = headers.map((h) => byteLength(h));
  for (const row of rows) {
    row.forEach((cell, i) => {
      for (const l of cell.split("\n")) widths[i] = Math.max(widths[i], byteLength(l));
    });
  }
  const total = widths.reduce((a, b) => a + b, 0) + (headers.length - 1) * 2;
  const lines = (cells: readonly string[]): string[] => {
    const split = cells.map((c) => c.split("\n"));
    const n = Math.max(1, ...split.map((c) => c.length));
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const parts = split.map((c, f) => {
        const v = c[i] ?? "";
        return v + " ".repeat(Math.max(0, widths[f] - byteLength(v)));
      });
      out.push(parts.join("  ").trimEnd());
    }
    return out;
  };
  const rule = "-".repeat(total);
  const out = [...lines(headers), rule];
  rows.forEach((row, i) => {
    const l = lines(row);
    if (blankLineBetweenRows && i > 0) l[0] = `\n${l[0]}`;
    out.push(...l);
  });
  out.push(rule, ...footer);
  return `${out.join("\n")}\n`;
}

/** restic's TimeFormat ("2006-01-02 15:04:05") in local time. */
export function formatLocalTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(
    date.getMinutes(),
  )}:${p(date.getSeconds())}`;
}
