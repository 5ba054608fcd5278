// Builds the console: one minified ES module per page (TypeScript and the vendored jsQR and
// qrcode-generator bundled in by esbuild), the static HTML, CSS and icon, and the licence
// notices of the bundled packages. The output depends only on the sources and the versions pinned
// in package-lock.json, so the same inputs give the same bytes (scripts/console-build.sh --check).
//
//   node build.mjs [--out DIR]   build into DIR (default: dist), replacing what was there
//   node build.mjs --test        bundle test/*.test.ts and run them with node's test runner

import { spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PAGES = { pos: "src/pos/main.ts", member: "src/member/main.ts", admin: "src/admin/main.ts" };
const BUNDLED = ["jsqr", "qrcode-generator"];

const shared = {
  bundle: true,
  format: "esm",
  target: ["es2022"],
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: HERE,
};

/** The licence text of a bundled package: its LICENSE file, else the notice atop its source. */
async function notice(name) {
  const dir = join(HERE, "node_modules", name);
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const files = await readdir(dir);
  const licenseFile = files.find((f) => /^licen[cs]e/i.test(f));
  const text = licenseFile
    ? await readFile(join(dir, licenseFile), "utf8")
    : (await readFile(join(dir, pkg.module ?? pkg.main), "utf8")).split("\n").filter((l) => l.startsWith("//")).slice(0, 16).join("\n");
  return `${pkg.name} ${pkg.version} (${pkg.license})\n\n${text.trim()}\n`;
}

async function buildConsole(out) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({ ...shared, entryPoints: PAGES, outdir: out, minify: true });
  await cp(join(HERE, "static"), out, { recursive: true });
  const notices = await Promise.all(BUNDLED.map(notice));
  await writeFile(join(out, "THIRD-PARTY-NOTICES.txt"), `Bundled into the console's scripts:\n\n${notices.join("\n\n")}`);
}

async function runTests() {
  const dir = await mkdtemp(join(tmpdir(), "mps-console-tests-"));
  try {
    const tests = (await readdir(join(HERE, "test"))).filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
    await build({ ...shared, entryPoints: tests, outdir: dir, platform: "node", outExtension: { ".js": ".mjs" } });
    const files = (await readdir(dir)).map((f) => join(dir, f));
    const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
    process.exitCode = run.status ?? 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args.includes("--test")) {
  await runTests();
} else {
  const at = args.indexOf("--out");
  await buildConsole(at >= 0 ? args[at + 1] : join(HERE, "dist"));
}
