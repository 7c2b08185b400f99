// solcjs behind the command line that forge expects of a native `solc`.
//
// No native solc can be downloaded on our machines, so forge compiles through
// the npm `solc` package (DESIGN.md section 7). forge calls `solc --version`
// and `solc [--allow-paths …] --standard-json` with the input on stdin.
// Two traps on this machine: reading a large piped stdin from node fails with
// EAGAIN, and node truncates piped stdout at 64 KiB when it exits. The bash
// wrapper `scripts/solc` therefore passes stdin and stdout through temp files,
// and this script only ever reads and writes regular files.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(
    "solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n",
  );
  process.exit(0);
}

const [inFile, outFile] = args;
const input = fs.readFileSync(inFile, "utf8");
function findImports(p) {
  try {
    return { contents: fs.readFileSync(p, "utf8") };
  } catch (e) {
    return { error: "File not found: " + p };
  }
}
const output = solc.compile(input, { import: findImports });
fs.writeFileSync(outFile, output);
