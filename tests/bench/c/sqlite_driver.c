/* kiln-bench's SQLite workload: inserts, an index, aggregates, grouping, updates and a
 * subquery on an in-memory database, returning a checksum of every result row. Built with the
 * vendored amalgamation (libsqlite3-sys) for wasm32-wasi (reactor) and natively. */
#include "sqlite3.h"

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(#name)))
#else
#define EXPORT(name) __attribute__((visibility("default")))
#endif

static int cb(void *acc, int n, char **v, char **c) { (void)c; for (int i = 0; i < n; i++) if (v[i]) for (const char *p = v[i]; *p; p++) *(unsigned *)acc = *(unsigned *)acc * 31u + (unsigned char)*p; return 0; }
EXPORT(sqlite_run) unsigned sqlite_run(int n) {
  sqlite3 *db; unsigned acc = 0;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  sqlite3_exec(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b INTEGER, c TEXT); CREATE INDEX tb ON t(b); BEGIN", 0, 0, 0);
  sqlite3_stmt *st; sqlite3_prepare_v2(db, "INSERT INTO t(b, c) VALUES (?1, printf('row %d %x', ?1, ?1 * 7919))", -1, &st, 0);
  for (int i = 0; i < n; i++) { sqlite3_bind_int(st, 1, (int)((i * 2654435761u) % 100000)); sqlite3_step(st); sqlite3_reset(st); }
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", 0, 0, 0);
  sqlite3_exec(db, "SELECT count(*), sum(b), max(length(c)) FROM t WHERE b > 5000", cb, &acc, 0);
  sqlite3_exec(db, "SELECT b % 97 AS k, count(*), group_concat(substr(c, 1, 3)) FROM t GROUP BY k ORDER BY k LIMIT 20", cb, &acc, 0);
  sqlite3_exec(db, "UPDATE t SET b = b + 1 WHERE a % 3 = 0; DELETE FROM t WHERE a % 5 = 0", 0, 0, 0);
  sqlite3_exec(db, "SELECT count(*), total(b) FROM t t1 WHERE b IN (SELECT b FROM t WHERE a % 7 = 0)", cb, &acc, 0);
  sqlite3_close(db);
  return acc;
}
