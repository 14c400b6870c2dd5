// Builds rlm_jupyter/static/vendor/page.js from src/ and the versions in package-lock.json:
//   cd js && npm ci && node build.mjs          (node build.mjs --check: exit 1 if the committed
//                                             file differs from what this build makes)
// The built file is committed (installs need no npm); tests/jupyter/test_page_build.py checks it
// names the locked versions, and runs --check when node and js/node_modules are there.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";

const lock = JSON.parse(readFileSync(new URL("./package-lock.json", import.meta.url)));
const pkg = JSON.parse(readFileSync(new URL("./package.json", import.meta.url)));
const versions = Object.keys(pkg.dependencies).sort()
  .map((name) => `${name}@${lock.packages[`node_modules/${name}`].version}`);
const out = new URL("../rlm_jupyter/static/vendor/page.js", import.meta.url);
const result = await build({
  entryPoints: [new URL("./src/page.js", import.meta.url).pathname],
  bundle: true, minify: true, format: "esm", target: "es2020", write: false, legalComments: "none",
  charset: "utf8", metafile: true,
});
const banner = `// rlm_jupyter page libraries, built by js/build.mjs: ${versions.join(" ")} (MIT / BSD-3-Clause; licences in rlm_jupyter/static/vendor/LICENSES.txt)\n`;
if (process.argv.includes("--check")) {
  const same = readFileSync(out, "utf8") === banner + result.outputFiles[0].text;
  console.log(same ? "the committed build is this build" : "the committed build differs: run node build.mjs");
  process.exit(same ? 0 : 1);
}
mkdirSync(new URL("../rlm_jupyter/static/vendor/", import.meta.url), { recursive: true });
writeFileSync(out, banner + result.outputFiles[0].text);
// The licences of every package the bundle holds (esbuild's metafile names their files).
const bundled = new Set(Object.keys(result.metafile.inputs).map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)).filter(Boolean).map((m) => m[1]));
const licences = [...bundled].sort().map((name) => {
  const dir = new URL(`./node_modules/${name}/`, import.meta.url);
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENSE-MIT"].find((f) => { try { readFileSync(new URL(f, dir)); return true; } catch { return false; } });
  const version = JSON.parse(readFileSync(new URL("package.json", dir))).version;
  return `== ${name}@${version} ==\n\n${file ? readFileSync(new URL(file, dir), "utf8").trim() : "(no licence file)"}\n`;
});
writeFileSync(new URL("../rlm_jupyter/static/vendor/LICENSES.txt", import.meta.url), licences.join("\n"));
console.log(`${out.pathname}: ${(banner.length + result.outputFiles[0].contents.length) / 1000} kB; ${versions.join(" ")}`);
