/**
 * Parses Prometheus text exposition with the reference Python client's parser
 * (Debian `python3-prometheus-client`), which rejects malformed lines instead of guessing.
 *
 * @module
 */

/** One parsed sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family. */
export interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

const SCRIPT = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": None if math.isnan(s.value) else s.value}
        for s in f.samples]})
print(json.dumps(out))
`;

/** Parses `text`; throws with the parser's message when it is not valid exposition format. */
export async function parsePrometheus(text: string): Promise<Family[]> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    throw new Error(
      `Not valid Prometheus text format: ${new TextDecoder().decode(stderr).trim().split("\n").pop()}`,
    );
  }
  const families = JSON.parse(new TextDecoder().decode(stdout)) as Family[];
  for (const f of families) for (const s of f.samples) s.value ??= NaN;
  return families;
}

/** The value of the sample `name` whose labels include `labels`, or undefined. */
export function sampleValue(
  families: Family[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
