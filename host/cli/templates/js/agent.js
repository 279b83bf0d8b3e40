// {{name}}: lists a folder (`notes` unless the input names another: {"dir": "docs"}), reads
// each file in it and returns how many lines, words and bytes each has. A file the policy does
// not let it read is reported as skipped, with the policies that refused it.
import { AccessDenied, fs } from "./cordon-guest.js";

export function run(input) {
  const dir = input?.dir ?? "notes";
  const summary = { dir, files: {}, total: { lines: 0, words: 0, bytes: 0 }, skipped: {} };
  for (const entry of fs.listDir(dir)) {
    if (entry.kind !== "file") continue;
    let text;
    try {
      text = fs.readText(`${dir}/${entry.name}`);
    } catch (err) {
      if (!(err instanceof AccessDenied)) throw err;
      summary.skipped[entry.name] = err.policyIds;
      continue;
    }
    const counts = {
      lines: text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0),
      words: text.split(/\s+/).filter(Boolean).length,
      bytes: new TextEncoder().encode(text).length,
    };
    // Lands in the report's `stdout`.
    console.log(`read ${dir}/${entry.name}: ${counts.lines} lines`);
    for (const key of Object.keys(counts)) summary.total[key] += counts[key];
    summary.files[entry.name] = counts;
  }
  return summary;
}
