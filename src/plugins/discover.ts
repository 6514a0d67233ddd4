/**
 * Finding plugins in the plugins folder: `.ts`/`.js` files and folders with `mod.ts` are module
 * plugins; any other executable file is a script hook named after its file name.
 *
 * @module
 */
import { basename, extname, join } from "../path.ts";

/** A plugin file found in the folder. */
export interface Found {
  /** Name from the file name (extension dropped). */
  fileName: string;
  /** The file, or the folder of a folder plugin. */
  path: string;
  /** `module` (TS/JS, runs in a Worker) or `script` (executable, the webhook script interface). */
  kind: "module" | "script";
  /** Module to import (module plugins). */
  module?: string;
  /** Changes whenever the plugin's files change. */
  stamp: string;
}

const MODULE_EXTS = new Set([".ts", ".js", ".mts", ".mjs"]);

function skipped(name: string): boolean {
  // Hidden files, editor backups and swap files come and go during saves.
  return name.startsWith(".") || name.endsWith("~") || /\.(swp|swx|tmp|bak|orig)$/.test(name) ||
    name.endsWith(".d.ts") || /^#.*#$/.test(name);
}

async function folderStamp(dir: string, depth = 0): Promise<string> {
  const parts: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (skipped(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory && depth < 4) parts.push(await folderStamp(path, depth + 1));
    else if (e.isFile) {
      const info = await Deno.stat(path).catch(() => null);
      if (info) parts.push(`${e.name}:${info.mtime?.getTime()}:${info.size}:${info.ino}`);
    }
  }
  return parts.sort().join("|");
}

/** Lists the plugins in `dir`, sorted by path; a missing folder has none. */
export async function discover(dir: string): Promise<Found[]> {
  const out: Found[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const e of entries) {
    if (skipped(e.name)) continue;
    const path = join(dir, e.name);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      continue; // Vanished while listing: an editor's save in progress.
    }
    if (info.isDirectory) {
      for (const mod of ["mod.ts", "mod.js"]) {
        const module = join(path, mod);
        if (await Deno.stat(module).then((i) => i.isFile, () => false)) {
          out.push({
            fileName: e.name,
            path,
            kind: "module",
            module,
            stamp: await folderStamp(path),
          });
          break;
        }
      }
      continue;
    }
    if (!info.isFile) continue;
    const stamp = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    const ext = extname(e.name);
    if (MODULE_EXTS.has(ext)) {
      out.push({ fileName: basename(e.name, ext), path, kind: "module", module: path, stamp });
    } else if (((info.mode ?? 0) & 0o111) !== 0) {
      out.push({ fileName: basename(e.name, ext), path, kind: "script", stamp });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
