/* sqlite: a driver for the SQLite amalgamation (libsqlite3-sys's bundled sqlite3.c with its
 * small POSIX VFS, wasm32-wasi-vfs.c) doing real work on a database file in a preopened
 * directory: it creates three tables, inserts a few thousand generated rows in transactions
 * (rollback journal: the VFS creates, syncs and deletes DB-journal), runs aggregate, join,
 * window, recursive and ordered queries, updates and deletes, checks integrity, closes and
 * reopens the file, and writes a CSV report next to the database.
 *
 * Usage: sqlite DB_PATH REPORT_PATH   (e.g. sqlite /data/shop.db /data/report.csv)
 *
 * The output is deterministic (a fixed LCG generates the rows; VFS randomness is zeros), and
 * the same source built natively with the host C compiler is the oracle for expected/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite3.h"

static sqlite3 *db;

/* The bundled VFS (wasm32-wasi-vfs.c, "demo") answers SQLITE_OK to every file control, which
 * makes SQLite believe the VFS handled every PRAGMA (they then return no rows). This shim VFS
 * delegates everything to it but answers SQLITE_NOTFOUND to file controls it does not know. */
sqlite3_vfs *sqlite3_demovfs(void);
static sqlite3_io_methods shim_io;
static int (*demo_open)(sqlite3_vfs *, sqlite3_filename, sqlite3_file *, int, int *);

static int shim_file_control(sqlite3_file *file, int op, void *arg) {
    (void)file;
    (void)arg;
    return op == SQLITE_FCNTL_SYNC || op == SQLITE_FCNTL_COMMIT_PHASETWO ? SQLITE_OK
                                                                        : SQLITE_NOTFOUND;
}

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                     int *out_flags) {
    int rc = demo_open(vfs, name, file, flags, out_flags);
    if (rc == SQLITE_OK && file->pMethods) {
        if (!shim_io.xClose) {
            shim_io = *file->pMethods;
            shim_io.xFileControl = shim_file_control;
        }
        file->pMethods = &shim_io;
    }
    return rc;
}

static void register_shim_vfs(void) {
    static sqlite3_vfs shim;
    shim = *sqlite3_demovfs();
    shim.zName = "wasi-demo-shim";
    demo_open = shim.xOpen;
    shim.xOpen = shim_open;
    sqlite3_vfs_register(&shim, 1);
}
static unsigned long long seed = 20240521;

static unsigned rnd(unsigned n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((seed >> 33) % n);
}

static void die(const char *what) {
    printf("error: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
    exit(2);
}

static void exec(const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        printf("error: %s\n  in: %s\n", err ? err : "?", sql);
        exit(2);
    }
}

/* Prints every row of `sql` as `|`-separated columns under a title. */
static void query(const char *title, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(title);
    printf("== %s\n", title);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            printf("%s%s", i ? " | " : "", v ? (const char *)v : "NULL");
        }
        printf("\n");
    }
    if (rc != SQLITE_DONE) die(title);
    sqlite3_finalize(st);
}

static sqlite3_int64 scalar(const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql);
    if (sqlite3_step(st) != SQLITE_ROW) die(sql);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *const first[] = {"Ada", "Brian", "Chloe", "Dmitri", "Elena", "Farid",
                                    "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena"};
static const char *const last[] = {"Lovelace", "Kernighan", "Okafor", "Petrov", "Garcia",
                                   "Haddad", "Hopper", "Tanaka", "Silva", "Berg"};
static const char *const cities[] = {"Lisbon", "Oslo", "Nairobi", "Osaka", "Quito", "Tunis"};
static const char *const categories[] = {"books", "garden", "kitchen", "music", "tools"};
static const char *const adjectives[] = {"small", "large", "red", "blue", "smart", "classic",
                                         "quiet", "rapid", "golden", "wooden"};

static void populate(void) {
    exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);"
         "CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
         "  category TEXT NOT NULL, price_cents INTEGER NOT NULL CHECK(price_cents > 0));"
         "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers,"
         "  product_id INTEGER NOT NULL REFERENCES products, qty INTEGER NOT NULL, day INTEGER NOT NULL);"
         "CREATE INDEX orders_by_customer ON orders(customer_id);"
         "CREATE INDEX orders_by_day ON orders(day);");
    sqlite3_stmt *st;
    char name[64];

    exec("BEGIN");
    if (sqlite3_prepare_v2(db, "INSERT INTO customers(name, city) VALUES(?, ?)", -1, &st, NULL))
        die("prepare customers");
    for (int i = 0; i < 240; i++) {
        /* One rnd() per statement: argument evaluation order is unspecified in C. */
        const char *given = first[rnd(12)];
        const char *family = last[rnd(10)];
        snprintf(name, sizeof name, "%s %s %d", given, family, i);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, cities[rnd(6)], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) die("insert customer");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "INSERT INTO products(name, category, price_cents) VALUES(?, ?, ?)",
                           -1, &st, NULL))
        die("prepare products");
    for (int i = 0; i < 60; i++) {
        const char *cat = categories[i % 5];
        snprintf(name, sizeof name, "%s %s #%d", adjectives[rnd(10)], cat, i);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, cat, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, 199 + (int)rnd(9800));
        if (sqlite3_step(st) != SQLITE_DONE) die("insert product");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec("COMMIT");

    /* Orders in four transactions (each one journals and syncs). */
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO orders(customer_id, product_id, qty, day) VALUES(?, ?, ?, ?)",
                           -1, &st, NULL))
        die("prepare orders");
    for (int batch = 0; batch < 4; batch++) {
        exec("BEGIN");
        for (int i = 0; i < 1500; i++) {
            sqlite3_bind_int(st, 1, 1 + (int)rnd(240));
            sqlite3_bind_int(st, 2, 1 + (int)rnd(60));
            int qty = 1 + (int)rnd(5);
            qty *= 1 + (int)rnd(3);
            sqlite3_bind_int(st, 3, qty);
            sqlite3_bind_int(st, 4, 1 + (int)rnd(30));
            if (sqlite3_step(st) != SQLITE_DONE) die("insert order");
            sqlite3_reset(st);
        }
        exec("COMMIT");
    }
    sqlite3_finalize(st);
}

static void queries(void) {
    query("row counts",
          "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products),"
          " (SELECT count(*) FROM orders), (SELECT sum(qty) FROM orders)");
    query("revenue by category",
          "SELECT p.category, count(*), sum(o.qty), printf('%.2f', sum(o.qty * p.price_cents) / 100.0)"
          " FROM orders o JOIN products p ON p.id = o.product_id"
          " GROUP BY p.category ORDER BY sum(o.qty * p.price_cents) DESC");
    query("top customers",
          "SELECT c.name, c.city, count(*) AS n, sum(o.qty * p.price_cents) AS cents"
          " FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id"
          " GROUP BY c.id ORDER BY cents DESC, c.name LIMIT 8");
    query("cities",
          "SELECT c.city, count(DISTINCT c.id), count(o.id), printf('%.3f', avg(o.qty))"
          " FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
          " GROUP BY c.city ORDER BY c.city");
    query("best product per category (window)",
          "SELECT category, name, revenue FROM ("
          "  SELECT p.category, p.name, sum(o.qty * p.price_cents) AS revenue,"
          "         rank() OVER (PARTITION BY p.category ORDER BY sum(o.qty * p.price_cents) DESC, p.name) AS r"
          "  FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.id)"
          " WHERE r = 1 ORDER BY category");
    query("running revenue, days 1-7",
          "SELECT day, daily, sum(daily) OVER (ORDER BY day) FROM ("
          "  SELECT o.day, sum(o.qty * p.price_cents) AS daily FROM orders o"
          "  JOIN products p ON p.id = o.product_id WHERE o.day <= 7 GROUP BY o.day) ORDER BY day");
    query("customers without orders",
          "SELECT count(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)");
    query("recursive CTE (fibonacci)",
          "WITH RECURSIVE fib(n, a, b) AS (SELECT 1, 0, 1 UNION ALL SELECT n + 1, b, a + b FROM fib WHERE n < 60)"
          " SELECT n, a FROM fib WHERE n % 10 = 0");
    query("strings",
          "SELECT upper(substr(name, 1, 3)), length(name), name LIKE '%wooden%',"
          " replace(name, ' ', '_') FROM products ORDER BY name LIMIT 5");
    query("group_concat",
          "SELECT category, group_concat(id, ',') FROM (SELECT category, id FROM products"
          " WHERE price_cents > 9000 ORDER BY id) GROUP BY category ORDER BY category");
    query("math and types",
          "SELECT 7 / 2, 7 % 3, 7.0 / 2, typeof(1), typeof(1.5), typeof('x'), typeof(NULL),"
          " abs(-42), round(2.675, 2), 1e300 * 10, 9223372036854775807, hex('kiln')");
}

static void modify(void) {
    exec("BEGIN");
    exec("UPDATE products SET price_cents = price_cents + 100 WHERE category = 'tools'");
    printf("== updates\nraised tools prices: %d rows\n", sqlite3_changes(db));
    exec("DELETE FROM orders WHERE day > 28");
    printf("deleted orders after day 28: %d rows\n", sqlite3_changes(db));
    exec("COMMIT");
    exec("BEGIN");
    exec("DELETE FROM orders");
    printf("deleted (then rolled back): %d rows\n", sqlite3_changes(db));
    exec("ROLLBACK");
    printf("orders after rollback: %lld\n", (long long)scalar("SELECT count(*) FROM orders"));
    if (sqlite3_exec(db, "INSERT INTO products(name, category, price_cents) VALUES('x', 'y', 0)",
                     NULL, NULL, NULL) == SQLITE_CONSTRAINT)
        printf("check constraint: %s\n", sqlite3_errmsg(db));
    query("integrity", "PRAGMA integrity_check");
    query("pragmas", "SELECT * FROM pragma_journal_mode, pragma_page_size, pragma_freelist_count");
}

static void report(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("error: cannot create the report\n");
        exit(2);
    }
    sqlite3_stmt *st;
    const char *sql = "SELECT o.day, count(*), sum(o.qty), sum(o.qty * p.price_cents)"
                      " FROM orders o JOIN products p ON p.id = o.product_id GROUP BY o.day ORDER BY o.day";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("report");
    fprintf(f, "day,orders,items,revenue_cents\n");
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        fprintf(f, "%d,%d,%d,%lld\n", sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
                sqlite3_column_int(st, 2), (long long)sqlite3_column_int64(st, 3));
        rows++;
    }
    sqlite3_finalize(st);
    fclose(f);
    printf("== report\nwrote %d days\n", rows);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sqlite DB_PATH REPORT_PATH\n");
        return 1;
    }
    register_shim_vfs();
    printf("sqlite %s (vfs %s)\n", sqlite3_libversion(), sqlite3_vfs_find(NULL)->zName);
    unlink(argv[1]);
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) die("open");
    populate();
    queries();
    modify();
    report(argv[2]);
    if (sqlite3_close(db) != SQLITE_OK) die("close");
    db = NULL;

    /* Reopen the file: the data must have reached it. */
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) die("reopen");
    query("after reopen",
          "SELECT count(*), sum(qty), (SELECT sum(price_cents) FROM products) FROM orders");
    char journal[512];
    snprintf(journal, sizeof journal, "%s-journal", argv[1]);
    printf("journal left behind: %s\n", access(journal, F_OK) == 0 ? "yes" : "no");
    sqlite3_close(db);
    return 0;
}
