/**
 * Builds the operators' console (console/src) into dist/console: index.html and content-hashed
 * JavaScript and CSS under assets/, bundled by esbuild from npm packages only (no CDN at run
 * time; the router serves these files at /console). Part of `npm run build`, so `npm start` and
 * the images serve the console from a fresh clone.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = path.join(ROOT, "console", "src");

/** Browsers with ES modules, <dialog> and the APIs the console uses (2023 and later). */
export const CONSOLE_TARGETS = ["chrome111", "firefox115", "safari16.4"];

/** The newest modification time of the console's sources, this script and esbuild's version. */
async function newestSource(): Promise<number> {
  const times: number[] = [(await stat(fileURLToPath(import.meta.url))).mtimeMs];
  for (const entry of await readdir(SOURCE, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) times.push((await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  times.push((await stat(path.join(ROOT, "mcp-router", "src", "admin-wire.ts"))).mtimeMs);
  return Math.max(...times);
}

/** True when `outDir` was built after every source last changed. */
async function upToDate(outDir: string): Promise<boolean> {
  try {
    const built = await stat(path.join(outDir, "index.html"));
    return built.mtimeMs > (await newestSource());
  } catch {
    return false;
  }
}

export async function buildConsole(
  options: { outDir?: string; minify?: boolean; force?: boolean } = {},
): Promise<{ outDir: string; files: string[]; built: boolean }> {
  const outDir = options.outDir ?? path.join(ROOT, "dist", "console");
  // Like tsc -b: nothing is built again when no source changed.
  if (options.force !== true && (await upToDate(outDir))) {
    const assets = await readdir(path.join(outDir, "assets"));
    return {
      outDir,
      files: ["index.html", ...assets.map((name) => `assets/${name}`)],
      built: false,
    };
  }
  // Built beside the target and swapped in, so a running router never reads half a build.
  const staging = `${outDir}.building-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(SOURCE, "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: CONSOLE_TARGETS,
    minify: options.minify ?? true,
    sourcemap: "linked",
    entryNames: "console-[hash]",
    assetNames: "[name]-[hash]",
    outdir: path.join(staging, "assets"),
    metafile: true,
    legalComments: "none",
    logLevel: "warning",
    charset: "utf8",
  });
  const outputs = Object.entries(result.metafile.outputs);
  const script = outputs.find(([, output]) => output.entryPoint !== undefined)?.[0];
  const style = outputs.find(([file]) => file.endsWith(".css"))?.[0];
  if (script === undefined || style === undefined) {
    throw new Error("console build: esbuild produced no script or no stylesheet");
  }
  const url = (file: string) => `/console/assets/${path.basename(file)}`;
  const template = await readFile(path.join(SOURCE, "index.html"), "utf8");
  await writeFile(
    path.join(staging, "index.html"),
    template.replace("%SCRIPT%", url(script)).replace("%STYLE%", url(style)),
  );
  await mkdir(path.dirname(outDir), { recursive: true });
  await rm(outDir, { recursive: true, force: true });
  await rename(staging, outDir);
  return {
    outDir,
    files: ["index.html", ...outputs.map(([file]) => `assets/${path.basename(file)}`)],
    built: true,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const { outDir, files, built } = await buildConsole({ force: process.argv.includes("--force") });
  const where = path.relative(ROOT, outDir);
  console.log(
    built
      ? `console: ${files.length} files in ${where} (${Date.now() - started} ms)`
      : `console: ${where} is up to date`,
  );
}
