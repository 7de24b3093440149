import type { NodeSummary } from "./apiserver.js";

/** Text rendering shared by the commands. Pure. */

/** The columns of `kubectl get nodes`, from what the API told us. */
export function renderNodes(nodes: readonly NodeSummary[]): string {
  const rows = [
    ["NAME", "STATUS", "ROLES", "VERSION"],
    ...nodes.map((n) => [n.name, n.ready ? "Ready" : "NotReady", n.roles.join(",") || "<none>", n.version]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]! + 3))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

type CheckState = "ok" | "fail" | "skip";

export interface Check {
  zone: string;
  name: string;
  state: CheckState;
  detail: string;
  fix?: string;
}

const MARK: Record<CheckState, string> = { ok: "✓", fail: "✗", skip: "-" };

export function renderChecks(checks: readonly Check[]): string {
  const lines: string[] = [];
  let zone = "";
  for (const check of checks) {
    if (check.zone !== zone) {
      zone = check.zone;
      lines.push(`${zone}`);
    }
    lines.push(`  ${MARK[check.state]} ${check.name}: ${check.detail}`);
    if (check.state === "fail" && check.fix) lines.push(`      fix: ${check.fix}`);
  }
  return lines.join("\n");
}
