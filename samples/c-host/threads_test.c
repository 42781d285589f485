/*
 * A multithreaded C host of the kiln runtime, used by tests/tests/capi.rs (and, under
 * Valgrind, as the race and memory check of the thread model):
 *
 *   threads_test MODULE.so ROUNDS
 *
 * MODULE exports `work(i32) -> i32` (sum of 0..n), `count() -> i32` (calls of `work` that
 * ran), `grow(i32) -> i32` (grows its exported externref table `t`), `boom` (traps). Threads
 * share one instance and its table:
 * - "callers" call `work` on the shared instance: each call runs to its exact result or is
 *   refused with KILN_ERROR_BUSY (one thread at a time per store), never anything else;
 * - a "grower" thread grows the shared table through guest code while "readers" read and
 *   write its elements with kiln_table_get/set (the storage never moves);
 * - "churners" create their own instances, call, trap and delete them.
 * At the end `count()` must equal the number of `work` calls that succeeded.
 * Prints "ok calls=N busy=M" and exits 0 when every check held.
 */
#include "kiln.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static kiln_engine_t *engine;
static kiln_module_t *module;
static kiln_instance_t *shared;
static kiln_table_t *table;
static int rounds;
static atomic_long ok_calls, busy_calls, failures;
static atomic_int growing_done;

static void fail(const char *what, kiln_error_t *e) {
  fprintf(stderr, "FAIL %s: %s\n", what, e ? kiln_error_message(e) : "(no error)");
  atomic_fetch_add(&failures, 1);
  kiln_error_delete(e);
}

static kiln_func_t *func(const kiln_instance_t *inst, const char *name) {
  kiln_func_t *f = NULL;
  kiln_error_t *e = kiln_instance_get_func(inst, name, &f);
  if (e) {
    fail(name, e);
    exit(2);
  }
  return f;
}

/* A new externref table of 1..max elements. */
static kiln_table_t *new_table(uint64_t max) {
  kiln_tabletype_t tt = {.element = KILN_EXTERNREF, .min = 1, .max = max, .has_max = true};
  kiln_val_t init = {.kind = KILN_EXTERNREF, .of.externref = 0};
  kiln_table_t *t = NULL;
  kiln_error_t *e = kiln_table_new(engine, &tt, &init, &t);
  if (e) {
    fail("table_new", e);
    exit(2);
  }
  return t;
}

/* An instance of the module importing `t`. */
static kiln_instance_t *instantiate(kiln_table_t *t) {
  kiln_extern_t *imp = kiln_table_as_extern(t);
  const kiln_extern_t *imports[1] = {imp};
  kiln_instance_t *inst = NULL;
  kiln_error_t *e = kiln_instance_new(module, imports, 1, &inst);
  kiln_extern_delete(imp);
  if (e) {
    fail("instantiate", e);
    return NULL;
  }
  return inst;
}

static void *caller(void *arg) {
  (void)arg;
  kiln_func_t *work = func(shared, "work");
  for (int i = 0; i < rounds * 20; i++) {
    int n = 3000 + i % 50;
    kiln_val_t a = {.kind = KILN_I32, .of.i32 = n}, r;
    kiln_error_t *e = kiln_func_call(work, &a, 1, &r, 1);
    if (!e) {
      if (r.of.i32 != n * (n - 1) / 2) fail("work result", NULL);
      atomic_fetch_add(&ok_calls, 1);
    } else if (kiln_error_kind(e) == KILN_ERROR_BUSY) {
      atomic_fetch_add(&busy_calls, 1);
      kiln_error_delete(e);
    } else {
      fail("work", e);
    }
  }
  kiln_func_delete(work);
  return NULL;
}

static void *grower(void *arg) {
  (void)arg;
  kiln_func_t *grow = func(shared, "grow");
  for (;;) {
    kiln_val_t a = {.kind = KILN_I32, .of.i32 = 7}, r;
    kiln_error_t *e = kiln_func_call(grow, &a, 1, &r, 1);
    if (e) {
      if (kiln_error_kind(e) != KILN_ERROR_BUSY) {
        fail("grow", e);
        break;
      }
      kiln_error_delete(e);
      continue;
    }
    if (r.of.i32 == -1) break;
  }
  kiln_func_delete(grow);
  atomic_store(&growing_done, 1);
  return NULL;
}

static void *reader(void *arg) {
  uint64_t mark = 1000 + (uint64_t)(uintptr_t)arg;
  while (!atomic_load(&growing_done)) {
    uint64_t size = kiln_table_size(table);
    kiln_val_t v;
    kiln_error_t *e = kiln_table_get(table, size - 1, &v);
    if (e) {
      fail("table_get", e);
      break;
    }
    if (v.kind != KILN_EXTERNREF) fail("element kind", NULL);
    kiln_val_t w = {.kind = KILN_EXTERNREF, .of.externref = mark};
    e = kiln_table_set(table, (mark * 7919u) % size, &w);
    if (e) fail("table_set", e);
  }
  return NULL;
}

static void *churner(void *arg) {
  (void)arg;
  for (int i = 0; i < rounds; i++) {
    kiln_table_t *t = new_table(64);
    kiln_instance_t *inst = instantiate(t);
    if (!inst) break;
    kiln_func_t *work = func(inst, "work"), *boom = func(inst, "boom");
    kiln_val_t a = {.kind = KILN_I32, .of.i32 = 10}, r;
    kiln_error_t *e = kiln_func_call(work, &a, 1, &r, 1);
    if (e || r.of.i32 != 45) fail("own work", e);
    e = kiln_func_call(boom, NULL, 0, NULL, 0);
    if (!e || kiln_error_kind(e) != KILN_ERROR_TRAP ||
        kiln_trap_kind(kiln_error_trap(e)) != KILN_TRAP_UNREACHABLE)
      fail("boom", e);
    else
      kiln_error_delete(e);
    kiln_func_delete(work);
    kiln_func_delete(boom);
    kiln_instance_delete(inst);
    kiln_table_delete(t);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODULE.so ROUNDS\n", argv[0]);
    return 2;
  }
  rounds = atoi(argv[2]);
  engine = kiln_engine_new(NULL);
  kiln_error_t *e = kiln_module_load(engine, argv[1], &module);
  if (e) {
    fail("load", e);
    return 1;
  }
  table = new_table(20000);
  shared = instantiate(table);
  if (!shared) return 1;
  pthread_t th[9];
  int n = 0;
  for (int i = 0; i < 3; i++) pthread_create(&th[n++], NULL, caller, NULL);
  pthread_create(&th[n++], NULL, grower, NULL);
  for (uintptr_t i = 0; i < 3; i++) pthread_create(&th[n++], NULL, reader, (void *)i);
  for (int i = 0; i < 2; i++) pthread_create(&th[n++], NULL, churner, NULL);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);

  kiln_func_t *count = func(shared, "count");
  kiln_val_t r;
  e = kiln_func_call(count, NULL, 0, &r, 1);
  if (e) fail("count", e);
  else if (r.of.i32 != atomic_load(&ok_calls)) fail("count matches the calls that ran", NULL);
  if (kiln_table_size(table) != 1 + (19999 / 7) * 7) fail("final table size", NULL);
  kiln_func_delete(count);
  kiln_instance_delete(shared);
  kiln_table_delete(table);
  kiln_module_delete(module);
  kiln_engine_delete(engine);
  if (atomic_load(&failures)) return 1;
  printf("ok calls=%ld busy=%ld\n", atomic_load(&ok_calls), atomic_load(&busy_calls));
  return 0;
}
