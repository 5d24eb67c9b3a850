// npm run build: the Wasm core (release, plus a debug build with assertions for tests) and the
// esbuild bundle with the .wasm embedded. Outputs sit beside this script and are not committed.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { readFileSync } from "node:fs";
import { coreCounterNames, counterDifferences } from "./counters_check.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

// --runtime stub: the core allocates only in init(), never frees. --use abort=: no env.abort
// import, so the module imports nothing and instantiates with {} anywhere.
// The binding names the core's counters by position: a reorder on either side would relabel
// `weft stats`, so the build stops unless the names agree (cli/core/abi.ts checks the rest of
// the ABI when the module loads).
const bindingCounters = await esbuild.build({
  entryPoints: [join(root, "cli/core/counters.ts")],
  bundle: true, write: false, format: "esm", platform: "neutral", logLevel: "warning",
});
const { VNI_COUNTERS, DROP_REASONS, LATE_COUNTERS, LINK_COUNTERS } = await import(
  `data:text/javascript;base64,${Buffer.from(bindingCounters.outputFiles[0].contents).toString("base64")}`);
const counterErrors = counterDifferences(
  coreCounterNames(readFileSync(join(root, "assembly/counters.ts"), "utf8")),
  { vni: VNI_COUNTERS, drop: DROP_REASONS.map(([name]) => name), late: LATE_COUNTERS, link: LINK_COUNTERS },
);
if (counterErrors.length > 0) {
  console.error(`error: assembly/counters.ts and cli/core/counters.ts disagree: ${counterErrors.join("; ")}`);
  process.exit(2);
}

const common = ["assembly/index.ts", "--runtime", "stub", "--use", "abort=", "--initialMemory", "1"];
execFileSync(bin("asc"), [...common, "-O3", "--noAssert", "--outFile", "build/weft.wasm",
  "--textFile", "build/weft.wat"], { cwd: root, stdio: "inherit" });

await esbuild.build({
  entryPoints: [join(root, "cli/core/bundle.ts")],
  outfile: join(root, "build/weft-core.mjs"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  loader: { ".wasm": "binary" },
  legalComments: "none",
  logLevel: "warning",
});
// The page of `weft ui` (cli/ui/): its own code only. Every module of the core and the capture
// readers it imports is taken from build/weft-core.mjs, which the browser loads beside it, so the
// page runs the bundle Node and Deno run, not a second copy of it.
const fromCoreBundle = {
  name: "weft-core",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/(core|pcap)\/[a-z_]+\.ts$/ }, () => ({
      path: "./weft-core.mjs",
      external: true,
    }));
  },
};
await esbuild.build({
  entryPoints: [join(root, "cli/ui/page.ts")],
  outfile: join(root, "build/weft-ui.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  plugins: [fromCoreBundle],
  legalComments: "none",
  logLevel: "warning",
});
console.log("built build/weft.wasm, build/weft-core.mjs and build/weft-ui.js");
