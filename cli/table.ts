// Column output as Docker prints it: each column as wide as its widest cell, three spaces apart.

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 1))).join("  ").trimEnd()
  ).join("\n");
}
