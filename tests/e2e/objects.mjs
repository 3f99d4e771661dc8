// The local Durable Object SQLite files under wrangler's --persist-to directory, read for the
// storage suites (what an object holds, without touching workerd's open databases).
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

/** The directory of a Durable Object class's SQLite files under a persist directory. */
export function classDir(persistTo, className) {
  const root = join(persistTo, "v3", "do");
  if (!existsSync(root)) return null;
  const dir = readdirSync(root).find((d) => d.endsWith(`-${className}`));
  return dir ? join(root, dir) : null;
}

/** The object ids (file names without .sqlite) of a class that have a file. */
export function objectIds(persistTo, className) {
  const dir = classDir(persistTo, className);
  if (!dir) return new Set();
  // Object files are named by the object id (64 hex digits); workerd's own `metadata.sqlite`
  // (the namespace's alarm schedule) is not an object.
  return new Set(readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).map((f) => f.slice(0, -".sqlite".length)));
}

/**
 * Miniflare's wrapper around every Durable Object class writes the object's name (our key) into a
 * table `__miniflare_do_name` when an instance is constructed (miniflare
 * dist/src/workers/core/do-wrapper.worker.js), for its local explorer. It is local tooling, not our
 * storage and not in production, so it is reported as `name` and left out of `tables`.
 */
const MINIFLARE_NAME_TABLE = "__miniflare_do_name";

/**
 * What one object's file holds: its tables (ours and the platform's, e.g. `_cf_METADATA` for the
 * alarm) with their row counts, its name if miniflare recorded it, and the bytes of the database
 * and its WAL. The files are copied first and the copy opened, so workerd's open database is never
 * touched, and the WAL (committed writes not yet checkpointed) is read with the database.
 */
export function inspectObject(persistTo, className, id) {
  const base = join(classDir(persistTo, className), `${id}.sqlite`);
  let bytes = 0;
  const copy = mkdtempSync(join(tmpdir(), "faroe-do-"));
  try {
    for (const suffix of ["", "-wal"]) {
      if (!existsSync(base + suffix)) continue;
      bytes += statSync(base + suffix).size;
      copyFileSync(base + suffix, join(copy, `db${suffix}`));
    }
    if (!existsSync(join(copy, "db"))) return { bytes, tables: {}, name: null };
    const db = new DatabaseSync(join(copy, "db"));
    try {
      const tables = {};
      let name = null;
      for (const { name: table } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()) {
        if (table === MINIFLARE_NAME_TABLE) {
          name = db.prepare(`SELECT name FROM ${MINIFLARE_NAME_TABLE} WHERE id = 1`).get()?.name ?? null;
          continue;
        }
        tables[table] = db.prepare(`SELECT COUNT(*) AS n FROM "${table.replaceAll('"', '""')}"`).get().n;
      }
      return { bytes, tables, name };
    } finally {
      db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** An object holds something when any table of ours or the platform's exists in its file. */
export const holdsData = (inspected) => Object.keys(inspected.tables).length > 0;

/**
 * The rows of an object's `entry` table (key, value bytes, counter, expires_at), read from a copy
 * as `inspectObject` does; [] when the object holds no table.
 */
export function objectEntries(persistTo, className, id) {
  const base = join(classDir(persistTo, className), `${id}.sqlite`);
  if (!existsSync(base)) return [];
  const copy = mkdtempSync(join(tmpdir(), "faroe-do-"));
  try {
    for (const suffix of ["", "-wal"]) {
      if (existsSync(base + suffix)) copyFileSync(base + suffix, join(copy, `db${suffix}`));
    }
    const db = new DatabaseSync(join(copy, "db"));
    try {
      const hasEntry = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entry'").get();
      if (!hasEntry) return [];
      return db.prepare("SELECT key, value, counter, expires_at FROM entry ORDER BY key").all()
        .map((row) => ({ ...row, value: Buffer.from(row.value) }));
    } finally {
      db.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}
