/*
 * component_api_test.c: drives kiln.h's component API and `kiln bindgen c` headers from C.
 *
 * Usage: component_api_test CALLS.so HOST_IMPORTS.so GREET.so HANDLES.so
 *   CALLS.so        tests/components/calls.wat compiled by kiln (header: calls.h)
 *   HOST_IMPORTS.so tests/components/host_imports.wat compiled by kiln (header: hi.h)
 *   GREET.so        tests/components/greet.wat compiled by kiln (header: greet.h), which
 *                   exports functions of the interface `test:greet/api`
 *   HANDLES.so      tests/components/handles_host.wat compiled by kiln (header: hh.h): a
 *                   resource type `thing` the host implements
 *
 * Prints one line per check; tests/tests/component_capi.rs compares them. Exit status 1 if a
 * check failed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "greet.h"
#include "hh.h"
#include "hi.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                         \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      failures++;                                                                                \
      printf("FAILED (%s:%d): ", __FILE__, __LINE__);                                            \
      printf(__VA_ARGS__);                                                                       \
      printf("\n");                                                                              \
    }                                                                                            \
  } while (0)

/* Prints and frees an unexpected error; returns whether there was one. */
static bool failed(kiln_error_t *err, const char *what) {
  if (!err)
    return false;
  failures++;
  printf("FAILED: %s: %s\n", what, kiln_error_display(err));
  kiln_error_delete(err);
  return true;
}

/* Prints an expected trap: "<what>: error kind K, trap kind T, message \"M\"". */
static void show_trap(const char *what, kiln_error_t *err) {
  if (!err) {
    failures++;
    printf("FAILED: %s: no error\n", what);
    return;
  }
  const kiln_trap_t *trap = kiln_error_trap(err);
  printf("%s: error kind %d, trap kind %d, message \"%s\"\n", what, kiln_error_kind(err),
         trap ? kiln_trap_kind(trap) : -1, trap ? kiln_trap_message(trap) : "");
  kiln_error_delete(err);
}

static kiln_string_t str(const char *s) {
  kiln_string_t r = {s, strlen(s)};
  return r;
}

static kiln_component_instance_t *instantiate(kiln_engine_t *engine, kiln_component_t *c,
                                              kiln_component_linker_t *linker) {
  kiln_component_instance_t *inst = NULL;
  kiln_component_linker_t *own = NULL;
  if (!linker) {
    if (failed(kiln_component_linker_new(engine, &own), "linker"))
      exit(1);
    linker = own;
  }
  if (failed(kiln_component_linker_instantiate(linker, c, &inst), "instantiate"))
    exit(1);
  kiln_component_linker_delete(own);
  return inst;
}

/* ---- Typed calls through calls.h ---- */

static void typed_calls(const calls_exports_t *e) {
  kiln_error_t *err;
  /* record { a: u8, b: string, c: char } */
  calls_rec_t rec = {7, str("héllo"), 0x1F600}, rec_out;
  if (!failed(calls_echo_rec(e, rec, &rec_out), "echo-rec")) {
    printf("echo-rec: a %u, b \"%.*s\", c U+%X\n", rec_out.a, (int)rec_out.b.len, rec_out.b.ptr,
           rec_out.c);
    failed(calls_echo_rec_post_return(e), "echo-rec post-return");
  }
  /* strings, transcoded to utf16 and latin1+utf16 guests and back */
  kiln_string_t s;
  if (!failed(calls_echo_string(e, str("grüße, 世界"), &s), "echo-string")) {
    printf("echo-string: %.*s\n", (int)s.len, s.ptr);
    failed(calls_echo_string_post_return(e), "post-return");
  }
  if (!failed(calls_echo_string16(e, str("grüße, 世界"), &s), "echo-string16")) {
    printf("echo-string16: %.*s\n", (int)s.len, s.ptr);
    failed(calls_echo_string16_post_return(e), "post-return");
  }
  uint32_t n = 0;
  if (!failed(calls_len16(e, str("a😀"), &n), "len16"))
    printf("len16: %u\n", n);
  /* lists */
  uint32_t nums[] = {1, 2, 3, 4000000000u};
  calls_list_u32_t list = {nums, 4}, list_out;
  if (!failed(calls_echo_list(e, list, &list_out), "echo-list")) {
    printf("echo-list:");
    for (size_t i = 0; i < list_out.len; i++)
      printf(" %u", list_out.ptr[i]);
    printf("\n");
    failed(calls_echo_list_post_return(e), "post-return");
  }
  kiln_string_t words[] = {str("one"), str("two"), str("three")};
  calls_list_string_t strs = {words, 3}, strs_out;
  if (!failed(calls_echo_strings(e, strs, &strs_out), "echo-strings")) {
    printf("echo-strings:");
    for (size_t i = 0; i < strs_out.len; i++)
      printf(" %.*s", (int)strs_out.ptr[i].len, strs_out.ptr[i].ptr);
    printf("\n");
    failed(calls_echo_strings_post_return(e), "post-return");
  }
  /* variant, option, result, enum, flags, tuple */
  calls_var_t var;
  var.tag = CALLS_VAR_C;
  var.payload.c = 0x123456789aULL;
  uint64_t packed = 0;
  if (!failed(calls_variant_arg(e, var, &packed), "variant-arg"))
    printf("variant-arg c: %#" PRIx64 "\n", packed);
  var.tag = CALLS_VAR_D;
  if (!failed(calls_variant_arg(e, var, &packed), "variant-arg"))
    printf("variant-arg d: %#" PRIx64 "\n", packed);
  calls_option_u32_t opt = {true, 5};
  uint32_t combined = 0;
  if (!failed(calls_option_arg(e, opt, &combined), "option-arg"))
    printf("option-arg some(5): %u\n", combined);
  calls_result_string_u32_t res, res_out;
  res.tag = CALLS_RESULT_STRING_U32_OK;
  res.payload.ok = str("fine");
  if (!failed(calls_echo_result(e, res, &res_out), "echo-result")) {
    printf("echo-result ok: tag %u, \"%.*s\"\n", res_out.tag, (int)res_out.payload.ok.len,
           res_out.payload.ok.ptr);
    failed(calls_echo_result_post_return(e), "post-return");
  }
  res.tag = CALLS_RESULT_STRING_U32_ERR;
  res.payload.err = 404;
  if (!failed(calls_echo_result(e, res, &res_out), "echo-result")) {
    printf("echo-result err: tag %u, %u\n", res_out.tag, res_out.payload.err);
    failed(calls_echo_result_post_return(e), "post-return");
  }
  calls_en_t en = 0;
  if (!failed(calls_echo_enum(e, CALLS_EN_Z, &en), "echo-enum"))
    printf("echo-enum: %u\n", en);
  calls_fl_t fl = 0;
  if (!failed(calls_echo_flags(e, CALLS_FL_R | CALLS_FL_X, &fl), "echo-flags"))
    printf("echo-flags: %u\n", fl);
  calls_tuple2_u64_bool_t tup = {UINT64_MAX, true}, tup_out;
  if (!failed(calls_echo_tuple(e, tup, &tup_out), "echo-tuple"))
    printf("echo-tuple: %" PRIu64 " %d\n", tup_out.f0, tup_out.f1);
  uint32_t sum = 0;
  if (!failed(calls_sum17(e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, &sum),
              "sum17"))
    printf("sum17: %u\n", sum);
  /* post-return functions run: add-post has one, post-count counts its calls */
  uint32_t x = 0, posts = 0;
  failed(calls_add_post(e, 41, &x), "add-post");
  failed(calls_add_post(e, 42, &x), "add-post");
  failed(calls_post_count(e, &posts), "post-count");
  printf("add-post: %u, guest post-returns: %u\n", x, posts);
  /* the post-return of a raw call must come before the next entry */
  err = kiln_component_func_post_return(e->echo_string);
  printf("post-return without call: error kind %d\n", err ? kiln_error_kind(err) : -1);
  kiln_error_delete(err);
  if (!failed(calls_echo_string(e, str("a"), &s), "echo-string")) {
    show_trap("re-entered before post-return", calls_echo_string(e, str("b"), &s));
  }
}

/* Traps: each leaves its instance unusable, so each gets a fresh one. */
static void traps(kiln_engine_t *engine, kiln_component_t *c) {
  const char *names[] = {"bad-enum", "bad-utf8", "oob-ret"};
  for (int i = 0; i < 3; i++) {
    kiln_component_instance_t *inst = instantiate(engine, c, NULL);
    calls_exports_t e;
    if (failed(calls_exports_init(&e, inst), "exports"))
      exit(1);
    kiln_error_t *err = NULL;
    uint8_t buf[32];
    if (i == 0)
      err = calls_bad_enum(&e, (calls_en_t *)buf);
    else if (i == 1)
      err = calls_bad_utf8(&e, (kiln_string_t *)buf);
    else
      err = calls_oob_ret(&e, (kiln_string_t *)buf);
    char what[64];
    snprintf(what, sizeof what, "trap %s", names[i]);
    show_trap(what, err);
    calls_exports_delete(&e);
    kiln_component_instance_delete(inst);
  }
}

/* ---- Dynamic values ---- */

static void dynamic_calls(const kiln_component_instance_t *inst) {
  kiln_component_func_t *f = NULL;
  if (failed(kiln_component_instance_get_func(inst, "echo-rec", &f), "get echo-rec"))
    return;
  printf("echo-rec type: %s (params %zu, result %d)\n", kiln_component_func_type(f),
         kiln_component_func_param_count(f), kiln_component_func_has_result(f));
  kiln_cval_t fields[3];
  fields[0].kind = KILN_CVAL_U8;
  fields[0].of.u8 = 200;
  fields[1].kind = KILN_CVAL_STRING;
  fields[1].of.string.ptr = (char *)"dyn";
  fields[1].of.string.len = 3;
  fields[2].kind = KILN_CVAL_CHAR;
  fields[2].of.character = 'Z';
  kiln_cval_t arg, result;
  arg.kind = KILN_CVAL_RECORD;
  arg.of.list.ptr = fields;
  arg.of.list.len = 3;
  if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic echo-rec")) {
    CHECK(result.kind == KILN_CVAL_RECORD && result.of.list.len == 3, "record result");
    kiln_cval_t *r = result.of.list.ptr;
    printf("dynamic echo-rec: %u \"%s\" %c\n", r[0].of.u8, r[1].of.string.ptr,
           (char)r[2].of.character);
    kiln_cval_delete(&result);
  }
  /* a mistyped argument is an error, not a crash */
  arg.kind = KILN_CVAL_STRING;
  kiln_error_t *err = kiln_component_func_call(f, &arg, 1, &result);
  printf("dynamic mistyped: error kind %d, %s\n", err ? kiln_error_kind(err) : -1,
         err ? kiln_error_message(err) : "");
  kiln_error_delete(err);
  kiln_component_func_delete(f);

  /* list<string> */
  if (failed(kiln_component_instance_get_func(inst, "echo-strings", &f), "get echo-strings"))
    return;
  kiln_cval_t items[2];
  for (int i = 0; i < 2; i++) {
    items[i].kind = KILN_CVAL_STRING;
    items[i].of.string.ptr = (char *)(i ? "beta" : "alpha");
    items[i].of.string.len = i ? 4 : 5;
  }
  arg.kind = KILN_CVAL_LIST;
  arg.of.list.ptr = items;
  arg.of.list.len = 2;
  if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic echo-strings")) {
    printf("dynamic echo-strings: %zu: %s %s\n", result.of.list.len,
           result.of.list.ptr[0].of.string.ptr, result.of.list.ptr[1].of.string.ptr);
    kiln_cval_delete(&result);
  }
  kiln_component_func_delete(f);

  /* variant, result with payloads */
  if (failed(kiln_component_instance_get_func(inst, "variant-arg", &f), "get variant-arg"))
    return;
  kiln_cval_t payload;
  payload.kind = KILN_CVAL_U32;
  payload.of.u32 = 9;
  arg.kind = KILN_CVAL_VARIANT;
  arg.of.variant.tag = 0;
  arg.of.variant.payload = &payload;
  if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic variant-arg"))
    printf("dynamic variant-arg a(9): kind %d, %#" PRIx64 "\n", result.kind, result.of.u64);
  kiln_component_func_delete(f);

  if (failed(kiln_component_instance_get_func(inst, "echo-result", &f), "get echo-result"))
    return;
  payload.kind = KILN_CVAL_U32;
  payload.of.u32 = 500;
  arg.kind = KILN_CVAL_RESULT;
  arg.of.variant.tag = 1;
  arg.of.variant.payload = &payload;
  if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic echo-result")) {
    printf("dynamic echo-result: kind %d, tag %u, err %u\n", result.kind, result.of.variant.tag,
           result.of.variant.payload->of.u32);
    kiln_cval_delete(&result);
  }
  kiln_component_func_delete(f);

  if (failed(kiln_component_instance_get_func(inst, "echo-flags", &f), "get echo-flags"))
    return;
  uint32_t word = 2;
  arg.kind = KILN_CVAL_FLAGS;
  arg.of.flags.words = &word;
  arg.of.flags.len = 1;
  if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic echo-flags")) {
    printf("dynamic echo-flags: %zu word(s), %u\n", result.of.flags.len, result.of.flags.words[0]);
    kiln_cval_delete(&result);
  }
  kiln_component_func_delete(f);

  kiln_error_t *missing = kiln_component_instance_get_func(inst, "no-such", &f);
  printf("missing export: error kind %d, %s\n", kiln_error_kind(missing),
         kiln_error_message(missing));
  kiln_error_delete(missing);
}

/* ---- Imports implemented in C (hi.h) ---- */

static char last_log[256];
static int refuse_greeting = 0;
/* The environment hi_link_imports() passes to the host functions: counts their calls. */
static int hi_env_calls = 0;

kiln_error_t *hi_host_log_log(void *env, const kiln_component_instance_t *instance,
                              kiln_string_t msg) {
  CHECK(env == &hi_env_calls && instance, "log: env %p, instance %p", env, (const void *)instance);
  (*(int *)env)++;
  snprintf(last_log, sizeof last_log, "%.*s", (int)msg.len, msg.ptr);
  return NULL;
}

kiln_error_t *hi_host_greet_host(void *env, const kiln_component_instance_t *instance,
                                 kiln_string_t name, kiln_string_t *ret) {
  CHECK(env == &hi_env_calls && instance, "greet: env %p, instance %p", env,
        (const void *)instance);
  (*(int *)env)++;
  if (refuse_greeting)
    return kiln_error_new(KILN_ERROR_OTHER, "greet-host refuses");
  char *buf = kiln_component_host_alloc(name.len + 16);
  if (!buf)
    return kiln_error_new(KILN_ERROR_OTHER, "no host memory");
  int n = sprintf(buf, "Hello, %.*s!", (int)name.len, name.ptr);
  ret->ptr = buf;
  ret->len = (size_t)n;
  return NULL;
}

/* The same imports with dynamic values. */
static kiln_error_t *dyn_greet(void *env, const kiln_component_instance_t *instance,
                               const kiln_cval_t *args, size_t nargs, kiln_cval_t *result) {
  CHECK(instance != NULL, "dynamic callback without instance");
  (*(int *)env)++;
  if (nargs != 1 || args[0].kind != KILN_CVAL_STRING)
    return kiln_error_new(KILN_ERROR_OTHER, "bad arguments");
  char buf[256];
  int n = snprintf(buf, sizeof buf, "Hi %s (dynamic)", args[0].of.string.ptr);
  return kiln_cval_set_string(result, buf, (size_t)n);
}

static kiln_error_t *dyn_log(void *env, const kiln_component_instance_t *instance,
                             const kiln_cval_t *args, size_t nargs, kiln_cval_t *result) {
  (void)env;
  (void)instance;
  (void)result;
  snprintf(last_log, sizeof last_log, "dyn:%s", nargs ? args[0].of.string.ptr : "?");
  return NULL;
}

static int finalized = 0;
static void finalize(void *env) {
  (void)env;
  finalized++;
}

static void imports(kiln_engine_t *engine, kiln_component_t *c) {
  kiln_component_linker_t *linker;
  if (failed(kiln_component_linker_new(engine, &linker), "linker"))
    exit(1);
  kiln_component_instance_t *inst = NULL;
  kiln_error_t *err = kiln_component_linker_instantiate(linker, c, &inst);
  printf("unlinked: error kind %d, %s\n", err ? kiln_error_kind(err) : -1,
         err ? kiln_error_message(err) : "");
  kiln_error_delete(err);
  if (failed(hi_link_imports(linker, &hi_env_calls), "link imports"))
    exit(1);
  inst = instantiate(engine, c, linker);
  hi_exports_t e;
  if (failed(hi_exports_init(&e, inst), "hi exports"))
    exit(1);
  kiln_string_t s;
  if (!failed(hi_greet(&e, str("world"), &s), "greet")) {
    printf("greet: %.*s (log: %s)\n", (int)s.len, s.ptr, last_log);
    failed(hi_greet_post_return(&e), "post-return");
  }
  if (!failed(hi_greet16(&e, str("wörld"), &s), "greet16")) {
    printf("greet16: %.*s\n", (int)s.len, s.ptr);
    failed(hi_greet16_post_return(&e), "post-return");
  }
  refuse_greeting = 1;
  show_trap("import error", hi_greet(&e, str("x"), &s));
  refuse_greeting = 0;
  hi_exports_delete(&e);
  kiln_component_instance_delete(inst);
  kiln_component_linker_delete(linker);

  /* dynamic callbacks, by world-level name and by interface */
  int calls = 0;
  if (failed(kiln_component_linker_new(engine, &linker), "linker"))
    exit(1);
  failed(kiln_component_linker_define_func(linker, "greet-host", dyn_greet, &calls, finalize),
         "define greet-host");
  failed(kiln_component_linker_define_interface_func(linker, "test:host/log", "log", dyn_log,
                                                     NULL, finalize),
         "define log");
  err = kiln_component_linker_define_func(linker, "x", NULL, NULL, finalize);
  printf("null callback: error kind %d, finalized %d\n", err ? kiln_error_kind(err) : -1,
         finalized);
  kiln_error_delete(err);
  inst = instantiate(engine, c, linker);
  kiln_component_linker_delete(linker);
  kiln_component_func_t *greet;
  if (!failed(kiln_component_instance_get_func(inst, "greet", &greet), "get greet")) {
    kiln_cval_t arg, result;
    arg.kind = KILN_CVAL_STRING;
    arg.of.string.ptr = (char *)"C";
    arg.of.string.len = 1;
    if (!failed(kiln_component_func_call(greet, &arg, 1, &result), "dynamic greet")) {
      printf("dynamic greet: %s (log: %s, calls %d)\n", result.of.string.ptr, last_log, calls);
      kiln_cval_delete(&result);
    }
    kiln_component_func_delete(greet);
  }
  kiln_component_instance_delete(inst);
  printf("finalized after delete: %d\n", finalized);
}

/* ---- Functions of an exported interface (greet.h) ---- */

static void interface_exports(kiln_engine_t *engine, kiln_component_t *c) {
  kiln_component_instance_t *inst = instantiate(engine, c, NULL);
  greet_exports_t e;
  if (failed(greet_exports_init(&e, inst), "greet exports"))
    exit(1);
  kiln_string_t s;
  if (!failed(greet_api_greet(&e, str("interface"), &s), "api greet")) {
    printf("test:greet/api#greet: %.*s\n", (int)s.len, s.ptr);
    failed(greet_api_greet_post_return(&e), "post-return");
  }
  uint32_t xs[] = {5, 6, 7};
  greet_list_u32_t list = {xs, 3};
  uint32_t n = 0;
  if (!failed(greet_api_count(&e, list, &n), "api count"))
    printf("test:greet/api#count: %u\n", n);
  greet_tuple2_u8_string_t pair;
  if (!failed(greet_api_pair(&e, 9, &pair), "api pair")) {
    printf("test:greet/api#pair: %u \"%.*s\"\n", pair.f0, (int)pair.f1.len, pair.f1.ptr);
    failed(greet_api_pair_post_return(&e), "post-return");
  }
  printf("nothing: %s\n", greet_nothing(&e) ? "error" : "ok");
  greet_exports_delete(&e);
  /* the dynamic path by interface name */
  kiln_component_func_t *f;
  if (!failed(kiln_component_instance_get_func(inst, "test:greet/api#greet", &f), "get")) {
    kiln_cval_t arg, result;
    arg.kind = KILN_CVAL_STRING;
    arg.of.string.ptr = (char *)"dyn";
    arg.of.string.len = 3;
    if (!failed(kiln_component_func_call(f, &arg, 1, &result), "dynamic api greet")) {
      printf("dynamic test:greet/api#greet: %s\n", result.of.string.ptr);
      kiln_cval_delete(&result);
    }
    kiln_component_func_delete(f);
  }
  kiln_component_instance_delete(inst);
}

/* ---- Resource handles (hh.h): `thing` is implemented by the host ---- */

static uint32_t hh_thing;

/* import inspect: func(t: borrow<thing>) -> u32: the representation + 1000, read through the
 * calling instance the callback receives */
kiln_error_t *hh_host_inspect(void *env, const kiln_component_instance_t *instance,
                              hh_borrow_thing_t t, uint32_t *ret) {
  (void)env;
  uint32_t rep = 0;
  kiln_error_t *err = kiln_component_instance_resource_rep(instance, hh_thing, t, &rep);
  if (err)
    return err;
  *ret = rep + 1000;
  return NULL;
}

static void resources(kiln_engine_t *engine, kiln_component_t *c) {
  kiln_component_linker_t *linker;
  if (failed(kiln_component_linker_new(engine, &linker), "linker") ||
      failed(hh_link_imports(linker, NULL), "link"))
    exit(1);
  kiln_component_instance_t *inst = instantiate(engine, c, linker);
  kiln_component_linker_delete(linker);
  hh_exports_t e;
  if (failed(kiln_component_instance_resource_type(inst, "thing", &hh_thing), "resource type") ||
      failed(hh_exports_init(&e, inst), "hh exports"))
    exit(1);
  uint32_t h = 0, r = 0, rep = 0;
  failed(kiln_component_instance_resource_new(inst, hh_thing, 42, &h), "resource new");
  if (!failed(hh_drop_it(&e, h, &r), "drop-it"))
    printf("drop-it: %u\n", r);
  if (!failed(hh_call_inspect(&e, h, &r), "call-inspect"))
    printf("call-inspect: %u\n", r);
  hh_own_thing_t moved = 0;
  if (!failed(hh_pass(&e, h, &moved), "pass")) {
    failed(hh_pass_post_return(&e), "post-return");
    failed(kiln_component_instance_resource_rep(inst, hh_thing, moved, &rep), "rep");
    printf("pass: rep %u\n", rep);
  }
  kiln_error_t *err = kiln_component_instance_resource_rep(inst, hh_thing, 999, &rep);
  printf("bad handle: error kind %d\n", err ? kiln_error_kind(err) : -1);
  kiln_error_delete(err);
  show_trap("keep", hh_keep(&e, moved, &r));
  failed(kiln_component_instance_resource_drop(inst, hh_thing, moved), "resource drop");
  err = kiln_component_instance_resource_rep(inst, hh_thing, moved, &rep);
  printf("after drop: error kind %d\n", err ? kiln_error_kind(err) : -1);
  kiln_error_delete(err);
  hh_exports_delete(&e);
  kiln_component_instance_delete(inst);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s CALLS.so HOST_IMPORTS.so GREET.so HANDLES.so\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_component_t *calls, *hi, *greet, *handles;
  kiln_error_t *err = kiln_component_load(engine, argv[0], &calls);
  printf("load non-component: error kind %d\n", err ? kiln_error_kind(err) : -1);
  kiln_error_delete(err);
  if (failed(kiln_component_load(engine, argv[1], &calls), "load calls") ||
      failed(kiln_component_load(engine, argv[2], &hi), "load host imports") ||
      failed(kiln_component_load(engine, argv[3], &greet), "load greet") ||
      failed(kiln_component_load(engine, argv[4], &handles), "load handles"))
    return 1;
  printf("world has echo-rec: %d\n", strstr(kiln_component_world(calls), "echo-rec") != NULL);

  kiln_component_instance_t *inst = instantiate(engine, calls, NULL);
  calls_exports_t e;
  if (failed(calls_exports_init(&e, inst), "exports"))
    return 1;
  typed_calls(&e);
  calls_exports_delete(&e);
  kiln_component_instance_delete(inst);

  traps(engine, calls);

  inst = instantiate(engine, calls, NULL);
  dynamic_calls(inst);
  kiln_component_instance_delete(inst);

  imports(engine, hi);
  interface_exports(engine, greet);
  resources(engine, handles);

  kiln_component_delete(calls);
  kiln_component_delete(hi);
  kiln_component_delete(greet);
  kiln_component_delete(handles);
  kiln_engine_delete(engine);
  printf("failures: %d\n", failures);
  return failures ? 1 : 0;
}
