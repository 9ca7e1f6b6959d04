/**
 * The simulation's output files: a CSV of every evaluation and an SVG plot of accuracy against bytes
 * sent per node.
 *
 * @module
 */
import type { SwarmSimResult } from "../../src/sim/mod.ts";

/** CSV of the evaluation rows. */
export function toCsv(result: SwarmSimResult): string {
  return "round,node,accuracy,loss,bytes_sent,datagrams_sent\n" +
    result.rows.map((r) => `${r.round},${r.node},${r.accuracy},${r.loss},${r.bytesSent},${r.datagramsSent}`)
      .join("\n") +
    "\n";
}

/** An SVG line plot of accuracy vs bytes sent per node, with the centralized accuracy as a dashed line. */
export function toSvg(result: SwarmSimResult, title: string): string {
  const W = 720, H = 440, L = 60, R = 150, T = 40, B = 50;
  const nodes = [...new Set(result.rows.filter((r) => r.node !== "centralized").map((r) => r.node))];
  const maxBytes = Math.max(1, ...result.rows.map((r) => r.bytesSent));
  const accs = result.rows.map((r) => r.accuracy);
  const minAcc = Math.max(0, Math.floor(Math.min(...accs, result.centralized ?? 1) * 10) / 10 - 0.05);
  const sx = (b: number) => L + (b / maxBytes) * (W - L - R);
  const sy = (a: number) => T + (1 - (a - minAcc) / (1 - minAcc)) * (H - T - B);
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">bytes sent per node (kB)</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${
      (T + H - B) / 2
    })" text-anchor="middle">test accuracy</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const b = (maxBytes * i) / 5;
    const a = minAcc + ((1 - minAcc) * i) / 5;
    parts.push(
      `<text x="${sx(b)}" y="${H - B + 16}" text-anchor="middle">${(b / 1e3).toFixed(0)}</text>`,
      `<text x="${L - 6}" y="${sy(a) + 4}" text-anchor="end">${(a * 100).toFixed(0)}%</text>`,
      `<line x1="${L}" y1="${sy(a)}" x2="${W - R}" y2="${sy(a)}" stroke="#eee"/>`,
    );
  }
  if (result.centralized !== undefined) {
    const y = sy(result.centralized);
    parts.push(
      `<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="black" stroke-dasharray="5,4"/>`,
      `<text x="${W - R + 6}" y="${y + 4}">centralized ${(result.centralized * 100).toFixed(1)}%</text>`,
    );
  }
  nodes.forEach((node, k) => {
    const pts = result.rows.filter((r) => r.node === node).map((r) =>
      `${sx(r.bytesSent).toFixed(1)},${sy(r.accuracy).toFixed(1)}`
    );
    const info = result.nodes.find((n) => n.id === node);
    const label = node + (info?.byzantine ? ` (${info.byzantine})` : "");
    parts.push(
      `<polyline fill="none" stroke="${colors[k % colors.length]}" stroke-width="1.5" points="${
        pts.join(" ")
      }"/>`,
      `<text x="${W - R + 6}" y="${T + 16 * (k + 2)}" fill="${colors[k % colors.length]}">${
        esc(label)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
