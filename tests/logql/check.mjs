// Reads a JSON array of LogQL expressions on stdin and prints, for each, the
// error positions Grafana's own LogQL grammar finds ([] when it parses clean).
// The lezer parser never throws: errors are nodes in the tree.
import { parser } from "@grafana/lezer-logql";

const input = await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
});

const results = JSON.parse(input).map((expr) => {
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push({ from: node.from, to: node.to, near: expr.slice(Math.max(0, node.from - 10), node.to + 10) });
    },
  });
  return errors;
});
process.stdout.write(JSON.stringify(results));
