/*
 * api_test.c: exercises the kiln C API end to end (built and run by tests/tests/capi.rs).
 *
 * Usage: api_test MAIN.so CLIENT.so NOT_A_MODULE
 *   MAIN.so   compiled from the `MAIN` module in tests/tests/capi.rs (imports env.add_host,
 *             env.log, env.peek and env.reenter; exports functions, a memory and a global)
 *   CLIENT.so imports lib.add and lib.memory (satisfied by an instance of MAIN.so)
 * Prints one line per check ("name: value"); any failed expectation prints "FAIL ..." and the
 * program exits with status 1 at the end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static int failures = 0;

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                               \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

/* Fails (and frees) on a non-NULL error. */
#define OK(expr)                                                                           \
  do {                                                                                     \
    kiln_error_t *e_ = (expr);                                                             \
    if (e_) {                                                                              \
      printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, kiln_error_display(e_));  \
      kiln_error_delete(e_);                                                               \
      failures++;                                                                          \
    }                                                                                      \
  } while (0)

/* Host state shared with the callbacks. */
struct host_env {
  kiln_memory_t *memory; /* the instance's memory, set after instantiation */
  int calls;             /* add_host calls */
  char logged[64];       /* last string logged by the guest */
};

static int finalized = 0;

static void finalize(void *env) {
  (void)env;
  finalized++;
}

/* env.add_host(a, b) = a + b; fails (a host error) when a == -1. */
static kiln_error_t *add_host(void *env, const kiln_val_t *args, size_t nargs,
                              kiln_val_t *results, size_t nresults) {
  struct host_env *h = env;
  h->calls++;
  if (nargs != 2 || nresults != 1 || args[0].kind != KILN_I32 || results[0].kind != KILN_I32)
    return kiln_error_new(KILN_ERROR_OTHER, "bad signature");
  if (args[0].of.i32 == -1) return kiln_error_new(KILN_ERROR_OTHER, "add_host refuses -1");
  results[0].of.i32 = args[0].of.i32 + args[1].of.i32;
  return NULL;
}

/* env.log(ptr, len): copies guest memory [ptr, ptr+len) into env->logged. */
static kiln_error_t *log_host(void *env, const kiln_val_t *args, size_t nargs,
                              kiln_val_t *results, size_t nresults) {
  struct host_env *h = env;
  (void)results;
  (void)nresults;
  if (nargs != 2 || !h->memory) return kiln_error_new(KILN_ERROR_OTHER, "no memory");
  uint32_t ptr = (uint32_t)args[0].of.i32, len = (uint32_t)args[1].of.i32;
  if (len >= sizeof h->logged || (size_t)ptr + len > kiln_memory_data_size(h->memory))
    return kiln_error_new(KILN_ERROR_TRAP, "log: out of range");
  memcpy(h->logged, kiln_memory_data(h->memory) + ptr, len);
  h->logged[len] = '\0';
  return NULL;
}

/* env.peek(addr): the byte at `addr` of the calling instance's memory 0 (through the caller). */
static kiln_error_t *peek_host(void *env, kiln_caller_t *caller, const kiln_val_t *args,
                               size_t nargs, kiln_val_t *results, size_t nresults) {
  (void)env;
  (void)nargs;
  (void)nresults;
  kiln_memory_t *m = NULL;
  kiln_error_t *e = kiln_caller_get_memory(caller, 0, &m);
  if (e) return e;
  uint32_t addr = (uint32_t)args[0].of.i32;
  if (addr >= kiln_memory_data_size(m)) e = kiln_error_new(KILN_ERROR_OTHER, "peek: out of range");
  else results[0].of.i32 = kiln_memory_data(m)[addr];
  kiln_memory_delete(m);
  return e;
}

/* env.reenter(a, b): calls the caller's own export `div` (a / b) and returns its error. */
static kiln_error_t *reenter_host(void *env, kiln_caller_t *caller, const kiln_val_t *args,
                                  size_t nargs, kiln_val_t *results, size_t nresults) {
  (void)env;
  kiln_extern_t *ext = NULL;
  kiln_error_t *e = kiln_caller_get_export(caller, "div", &ext);
  if (e) return e;
  kiln_func_t *div = kiln_extern_to_func(ext);
  kiln_extern_delete(ext);
  e = kiln_func_call(div, args, nargs, results, nresults);
  kiln_func_delete(div);
  return e;
}

static kiln_val_t i32(int32_t v) {
  kiln_val_t r;
  memset(&r, 0, sizeof r);
  r.kind = KILN_I32;
  r.of.i32 = v;
  return r;
}

/* Calls `name` with two i32s expecting one i32 result; returns the error (NULL on success). */
static kiln_error_t *call2(kiln_instance_t *inst, const char *name, int32_t a, int32_t b,
                           int32_t *out) {
  kiln_func_t *f = NULL;
  kiln_error_t *e = kiln_instance_get_func(inst, name, &f);
  if (e) return e;
  kiln_val_t args[2] = {i32(a), i32(b)}, res[1];
  e = kiln_func_call(f, args, 2, res, 1);
  if (!e) *out = res[0].of.i32;
  kiln_func_delete(f);
  return e;
}

/* Calls a () -> () or () -> i32 export and returns its error. */
static kiln_error_t *call0(kiln_instance_t *inst, const char *name) {
  kiln_func_t *f = NULL;
  kiln_error_t *e = kiln_instance_get_func(inst, name, &f);
  if (e) return e;
  kiln_val_t res[1];
  e = kiln_func_call(f, NULL, 0, res, kiln_func_result_count(f));
  kiln_func_delete(f);
  return e;
}

static void print_trap(const char *what, kiln_error_t *e) {
  const kiln_trap_t *t = kiln_error_trap(e);
  printf("%s: error kind %d, trap kind %d, message \"%s\"\n", what, (int)kiln_error_kind(e),
         t ? (int)kiln_trap_kind(t) : -1, kiln_error_message(e));
  for (size_t i = 0; t && i < kiln_trap_frame_count(t); i++) {
    kiln_frame_t f;
    CHECK(kiln_trap_frame(t, i, &f));
    printf("%s frame %zu: func %" PRIu32 " %s%s\n", what, i, f.func_index,
           f.func_name ? f.func_name : "<unnamed>", f.has_wasm_offset ? " (has offset)" : "");
  }
}

static kiln_instance_t *instantiate_main(kiln_engine_t *engine, kiln_module_t *module,
                                         struct host_env *env) {
  kiln_linker_t *linker = NULL;
  kiln_instance_t *inst = NULL;
  kiln_valkind_t ii[2] = {KILN_I32, KILN_I32}, i[1] = {KILN_I32};
  OK(kiln_linker_new(engine, &linker));
  OK(kiln_linker_define_func(linker, "env", "add_host", ii, 2, i, 1, add_host, env, finalize));
  OK(kiln_linker_define_func(linker, "env", "log", ii, 2, NULL, 0, log_host, env, NULL));
  OK(kiln_linker_define_func_with_caller(linker, "env", "peek", i, 1, i, 1, peek_host, NULL,
                                         NULL));
  OK(kiln_linker_define_func_with_caller(linker, "env", "reenter", ii, 2, i, 1, reenter_host,
                                         NULL, NULL));
  OK(kiln_linker_instantiate(linker, module, &inst));
  kiln_linker_delete(linker);
  return inst;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MAIN.so CLIENT.so NOT_A_MODULE\n", argv[0]);
    return 2;
  }
  kiln_engine_config_t config;
  kiln_engine_config_default(&config);
  CHECK(config.max_wasm_stack > 0);
  kiln_engine_t *engine = kiln_engine_new(&config);
  CHECK(engine != NULL);

  /* Load errors: a file that is not a kiln module, a NULL argument. */
  kiln_module_t *bad = NULL;
  kiln_error_t *e = kiln_module_load(engine, argv[3], &bad);
  CHECK(e && bad == NULL);
  printf("load error: kind %d\n", (int)kiln_error_kind(e));
  CHECK(strstr(kiln_error_display(e), "cannot load module") != NULL);
  kiln_error_delete(e);
  e = kiln_module_load(NULL, argv[1], &bad);
  printf("null engine: kind %d, %s\n", (int)kiln_error_kind(e), kiln_error_message(e));
  kiln_error_delete(e);

  /* The module and its imports/exports. */
  kiln_module_t *module = NULL;
  OK(kiln_module_load(engine, argv[1], &module));
  if (!module) return 1;
  for (size_t k = 0; k < kiln_module_import_count(module); k++) {
    kiln_import_t imp;
    CHECK(kiln_module_import(module, k, &imp));
    printf("import %zu: %s.%s kind %d\n", k, imp.module, imp.name, (int)imp.kind);
  }
  for (size_t k = 0; k < kiln_module_export_count(module); k++) {
    kiln_export_t ex;
    CHECK(kiln_module_export(module, k, &ex));
    printf("export %zu: %s kind %d\n", k, ex.name, (int)ex.kind);
  }
  kiln_export_t none;
  CHECK(!kiln_module_export(module, 1000, &none));

  /* Instantiate with C host functions. */
  struct host_env env = {0};
  kiln_instance_t *inst = instantiate_main(engine, module, &env);
  if (!inst) return 1;
  OK(kiln_instance_get_memory(inst, "memory", &env.memory));

  /* Calls with arguments and results. */
  int32_t r = 0;
  OK(call2(inst, "add", 2, 3, &r));
  printf("add(2, 3) = %d\n", r);
  kiln_func_t *mix = NULL;
  OK(kiln_instance_get_func(inst, "mix", &mix));
  printf("mix types: %d %d %d -> %d\n", kiln_func_param_type(mix, 0), kiln_func_param_type(mix, 1),
         kiln_func_param_type(mix, 2), kiln_func_result_type(mix, 0));
  kiln_val_t margs[3], mres[1];
  memset(margs, 0, sizeof margs);
  margs[0].kind = KILN_I64, margs[0].of.i64 = 40000000000LL;
  margs[1].kind = KILN_F32, margs[1].of.f32 = 1.5f;
  margs[2].kind = KILN_F64, margs[2].of.f64 = 0.25;
  OK(kiln_func_call(mix, margs, 3, mres, 1));
  printf("mix = %.2f\n", mres[0].of.f64);
  /* Argument type mismatch and wrong counts are errors, not crashes. */
  margs[0].kind = KILN_I32;
  e = kiln_func_call(mix, margs, 3, mres, 1);
  printf("mismatch: kind %d\n", (int)kiln_error_kind(e));
  kiln_error_delete(e);
  e = kiln_func_call(mix, margs, 1, mres, 1);
  CHECK(e && kiln_error_kind(e) == KILN_ERROR_OTHER);
  kiln_error_delete(e);
  e = kiln_func_call(NULL, NULL, 0, NULL, 0);
  CHECK(e && kiln_error_kind(e) == KILN_ERROR_OTHER);
  kiln_error_delete(e);
  kiln_func_delete(mix);

  /* v128 round trip. */
  kiln_func_t *vid = NULL;
  OK(kiln_instance_get_func(inst, "v128_id", &vid));
  kiln_val_t v, vr;
  v.kind = KILN_V128;
  for (int k = 0; k < 16; k++) v.of.v128[k] = (uint8_t)(k * 17);
  OK(kiln_func_call(vid, &v, 1, &vr, 1));
  printf("v128 round trip: %s\n",
         vr.kind == KILN_V128 && memcmp(v.of.v128, vr.of.v128, 16) == 0 ? "ok" : "mismatch");
  kiln_func_delete(vid);

  /* Raw calls: the type checked once by the host, values in 16-byte slots, no conversion. */
  kiln_func_t *radd = NULL, *rmix = NULL, *rdiv = NULL, *rref = NULL;
  OK(kiln_instance_get_func(inst, "add", &radd));
  OK(kiln_instance_get_func(inst, "mix", &rmix));
  OK(kiln_instance_get_func(inst, "div", &rdiv));
  OK(kiln_instance_get_func(inst, "ref_id", &rref));
  kiln_valraw_t slots[3];
  memset(slots, 0, sizeof slots);
  slots[0].i32 = 40, slots[1].i32 = 2;
  OK(kiln_func_call_raw(radd, slots, 2));
  printf("raw add(40, 2) = %d\n", slots[0].i32);
  memset(slots, 0, sizeof slots);
  slots[0].i64 = 40000000000LL, slots[1].f32 = 1.5f, slots[2].f64 = 0.25;
  OK(kiln_func_call_raw(rmix, slots, 3));
  printf("raw mix = %.2f\n", slots[0].f64);
  e = kiln_func_call_raw(radd, slots, 1);
  printf("raw short: kind %d\n", e ? (int)kiln_error_kind(e) : -1);
  kiln_error_delete(e);
  e = kiln_func_call_raw(rref, slots, 1);
  printf("raw externref: kind %d, %s\n", e ? (int)kiln_error_kind(e) : -1,
         e && strstr(kiln_error_display(e), "numeric") ? "refused" : "accepted");
  kiln_error_delete(e);
  slots[0].i32 = 1, slots[1].i32 = 0;
  e = kiln_func_call_raw(rdiv, slots, 2);
  printf("raw div: error kind %d\n", e ? (int)kiln_error_kind(e) : -1);
  kiln_error_delete(e);
  kiln_func_delete(radd);
  kiln_func_delete(rmix);
  kiln_func_delete(rdiv);
  kiln_func_delete(rref);

  /* A host import implemented in C, called from the guest. */
  OK(call2(inst, "call_host", 7, 0, &r));
  printf("call_host(7) = %d (host calls: %d)\n", r, env.calls);
  OK(call0(inst, "greet"));
  printf("log: %s\n", env.logged);

  /* Host functions that use their caller, and re-enter the guest. */
  OK(call2(inst, "peek_via_host", 17, 0, &r));
  printf("peek(17) via caller = %d (%c)\n", r, (char)r);
  OK(call2(inst, "reenter", 6, 3, &r));
  printf("reenter(6, 3) = %d\n", r);
  e = call2(inst, "reenter", 1, 0, &r);
  print_trap("reenter trap", e);
  kiln_error_delete(e);

  /* Guest memory. */
  OK(call2(inst, "store", 100, 0x01020304, &r));
  uint8_t *mem = kiln_memory_data(env.memory);
  printf("memory[100..104] = %d %d %d %d, pages %" PRIu64 ", bytes %zu\n", mem[100], mem[101],
         mem[102], mem[103], kiln_memory_size_pages(env.memory),
         kiln_memory_data_size(env.memory));
  char buf[16] = {0};
  OK(kiln_memory_read(env.memory, 16, buf, 15));
  printf("memory read: %s\n", buf);
  e = kiln_memory_read(env.memory, kiln_memory_data_size(env.memory) - 2, buf, 4);
  CHECK(e != NULL);
  kiln_error_delete(e);
  uint64_t old = 0;
  OK(kiln_memory_grow(env.memory, 1, &old));
  printf("grow: old %" PRIu64 ", now %" PRIu64 "\n", old, kiln_memory_size_pages(env.memory));
  CHECK(kiln_memory_data(env.memory) == mem);

  /* Globals. */
  OK(call0(inst, "bump"));
  OK(call0(inst, "bump"));
  kiln_global_t *counter = NULL;
  OK(kiln_instance_get_global(inst, "counter", &counter));
  kiln_val_t gv;
  OK(kiln_global_get(counter, &gv));
  printf("counter = %d (mutable %d)\n", gv.of.i32, (int)kiln_global_is_mutable(counter));
  kiln_val_t forty = i32(40);
  OK(kiln_global_set(counter, &forty));
  OK(call0(inst, "bump"));
  OK(kiln_global_get(counter, &gv));
  printf("counter after set+bump = %d\n", gv.of.i32);
  kiln_global_delete(counter);

  /* Traps come back as trap objects; the process keeps running. */
  e = call2(inst, "div", 1, 0, &r);
  print_trap("div", e);
  kiln_trap_t *kept = kiln_trap_clone(kiln_error_trap(e));
  kiln_error_delete(e);
  printf("kept trap: %s\n", kiln_trap_message(kept));
  kiln_trap_delete(kept);
  e = call0(inst, "boom");
  print_trap("boom", e);
  printf("boom display: %s\n", strstr(kiln_error_display(e), "wasm backtrace") ? "has backtrace" : "no backtrace");
  kiln_error_delete(e);
  e = call2(inst, "call_host", -1, 0, &r);
  print_trap("host error", e);
  kiln_error_delete(e);
  printf("kind message 7: %s\n", kiln_trap_kind_message(KILN_TRAP_INTEGER_DIVISION_BY_ZERO));

  /* Epoch interruption. */
  OK(kiln_instance_set_epoch_deadline(inst, 1));
  kiln_engine_increment_epoch(engine);
  e = call0(inst, "spin");
  print_trap("spin", e);
  kiln_error_delete(e);
  OK(kiln_instance_set_epoch_deadline(inst, 1000000));

  /* The same instance still works, and so does a second instance with its own memory. */
  OK(call2(inst, "add", 40, 2, &r));
  printf("after traps: add(40, 2) = %d\n", r);
  kiln_instance_t *inst2 = instantiate_main(engine, module, &env);
  if (!inst2) return 1;
  OK(call2(inst2, "add", 20, 22, &r));
  kiln_memory_t *mem2 = NULL;
  OK(kiln_instance_get_memory(inst2, "memory", &mem2));
  printf("second instance: add(20, 22) = %d, memory[100] = %d\n", r, kiln_memory_data(mem2)[100]);
  kiln_memory_delete(mem2);

  /* Linking an instance's exports into another module. */
  kiln_module_t *client = NULL;
  OK(kiln_module_load(engine, argv[2], &client));
  kiln_linker_t *linker = NULL;
  OK(kiln_linker_new(engine, &linker));
  kiln_instance_t *cinst = NULL;
  e = kiln_linker_instantiate(linker, client, &cinst);
  printf("unlinked: kind %d, %s\n", (int)kiln_error_kind(e), kiln_error_message(e));
  kiln_error_delete(e);
  OK(kiln_linker_define_instance(linker, "lib", inst));
  OK(kiln_linker_instantiate(linker, client, &cinst));
  OK(call2(cinst, "add_and_peek", 1, 2, &r));
  printf("client: %d\n", r);

  /* Externs and kiln_instance_new with explicit imports. */
  kiln_extern_t *add_ext = NULL, *mem_ext = NULL;
  OK(kiln_instance_get_export(inst, "add", &add_ext));
  OK(kiln_instance_get_export(inst, "memory", &mem_ext));
  printf("extern kinds: %d %d\n", (int)kiln_extern_kind(add_ext), (int)kiln_extern_kind(mem_ext));
  CHECK(kiln_extern_to_memory(add_ext) == NULL);
  const kiln_extern_t *imports[2] = {add_ext, mem_ext};
  kiln_instance_t *cinst2 = NULL;
  OK(kiln_instance_new(client, imports, 2, &cinst2));
  OK(call2(cinst2, "add_and_peek", 3, 4, &r));
  printf("client2: %d\n", r);
  kiln_extern_delete(add_ext);
  kiln_extern_delete(mem_ext);

  /* A host function called directly from C, and host-created items. */
  kiln_func_t *hf = NULL;
  kiln_valkind_t ii[2] = {KILN_I32, KILN_I32}, i1[1] = {KILN_I32};
  struct host_env env2 = {0};
  OK(kiln_func_new(engine, ii, 2, i1, 1, add_host, &env2, finalize, &hf));
  kiln_val_t hargs[2] = {i32(5), i32(6)}, hres[1];
  OK(kiln_func_call(hf, hargs, 2, hres, 1));
  printf("direct host call: %d\n", hres[0].of.i32);
  kiln_func_delete(hf);
  kiln_func_t *hc = NULL;
  OK(kiln_func_new_with_caller(engine, i1, 1, i1, 1, peek_host, NULL, finalize, &hc));
  e = kiln_func_call(hc, hargs, 1, hres, 1);
  printf("caller-less: error kind %d, trap kind %d, message \"%s\"\n", (int)kiln_error_kind(e),
         (int)kiln_trap_kind(kiln_error_trap(e)), kiln_error_message(e));
  kiln_error_delete(e);
  kiln_func_delete(hc);
  /* Creation errors finalize the environment too. */
  e = kiln_func_new(engine, ii, 2, i1, 1, NULL, NULL, finalize, &hf);
  CHECK(e != NULL && hf == NULL);
  kiln_error_delete(e);
  kiln_global_t *hg = NULL;
  kiln_val_t seven = i32(7);
  OK(kiln_global_new(engine, KILN_I32, false, &seven, &hg));
  e = kiln_global_set(hg, &seven);
  CHECK(e != NULL);
  kiln_error_delete(e);
  kiln_global_delete(hg);
  kiln_memorytype_t mt = {.min = 1, .max = 2, .has_max = true};
  kiln_memory_t *hm = NULL;
  OK(kiln_memory_new(engine, &mt, &hm));
  OK(kiln_memory_write(hm, 10, "xyz", 3));
  printf("host memory: %c%c%c\n", kiln_memory_data(hm)[10], kiln_memory_data(hm)[11], kiln_memory_data(hm)[12]);
  e = kiln_memory_grow(hm, 5, NULL);
  CHECK(e != NULL);
  kiln_error_delete(e);
  kiln_memory_delete(hm);
  kiln_tabletype_t tt = {.element = KILN_FUNCREF, .min = 2, .has_max = false};
  kiln_val_t nullref;
  memset(&nullref, 0, sizeof nullref);
  nullref.kind = KILN_FUNCREF;
  kiln_table_t *ht = NULL;
  OK(kiln_table_new(engine, &tt, &nullref, &ht));
  kiln_func_t *addf = NULL;
  OK(kiln_instance_get_func(inst, "add", &addf));
  kiln_val_t fref = nullref;
  fref.of.funcref = addf;
  OK(kiln_table_set(ht, 1, &fref));
  kiln_val_t got;
  OK(kiln_table_get(ht, 1, &got));
  kiln_val_t targs[2] = {i32(8), i32(9)}, tres[1];
  OK(kiln_func_call(got.of.funcref, targs, 2, tres, 1));
  printf("table: size %" PRIu64 ", call via element = %d\n", kiln_table_size(ht), tres[0].of.i32);
  kiln_val_delete(&got);
  CHECK(got.of.funcref == NULL);
  kiln_func_delete(addf);
  kiln_table_delete(ht);

  /* Everything freed: the host functions' finalizers ran. */
  kiln_instance_delete(cinst2);
  kiln_instance_delete(cinst);
  kiln_linker_delete(linker);
  kiln_module_delete(client);
  kiln_memory_delete(env.memory);
  kiln_instance_delete(inst2);
  kiln_instance_delete(inst);
  kiln_module_delete(module);
  kiln_engine_delete(engine);
  printf("finalized: %d\n", finalized);

  /* NULL handles are harmless. */
  kiln_engine_delete(NULL);
  kiln_error_delete(NULL);
  CHECK(kiln_func_param_count(NULL) == 0);
  CHECK(kiln_error_trap(NULL) == NULL);

  printf("failures: %d\n", failures);
  return failures ? 1 : 0;
}
