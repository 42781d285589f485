/*
 * component_errors_test.c: arguments a host gets wrong are errors that leave the component
 * instance usable; a guest trap poisons it (kiln.h, "Argument mistakes do not poison").
 *
 * Usage: component_errors_test CALLS.so HANDLES.so HOST_IMPORTS.so
 *   CALLS.so         tests/components/calls.wat compiled by kiln (header: calls.h)
 *   HANDLES.so       tests/components/handles_host.wat compiled by kiln (header: hh.h)
 *   HOST_IMPORTS.so  tests/components/host_imports.wat compiled by kiln (header: hi.h)
 *
 * Prints one line per check; tests/tests/component_errors.rs compares them. Exit status 1 if
 * a check failed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "hh.h"
#include "hi.h"

static int failures = 0;

/* Prints an expected error: "<what>: kind K, poisoned P, <message>", and frees it. */
static void show(const kiln_component_instance_t *inst, const char *what, kiln_error_t *err) {
  if (!err) {
    failures++;
    printf("FAILED: %s: no error\n", what);
    return;
  }
  printf("%s: kind %d, poisoned %d, %s\n", what, kiln_error_kind(err),
         kiln_component_instance_is_poisoned(inst), kiln_error_message(err));
  kiln_error_delete(err);
}

/* A good call still works: echo-string round trip. */
static void still_works(const calls_exports_t *e, const char *after) {
  kiln_string_t in = {"ok", 2}, out;
  kiln_error_t *err = calls_echo_string(e, in, &out);
  if (err) {
    failures++;
    printf("FAILED: call after %s: %s\n", after, kiln_error_message(err));
    kiln_error_delete(err);
    return;
  }
  if (out.len != 2 || memcmp(out.ptr, "ok", 2) != 0) {
    failures++;
    printf("FAILED: call after %s returned the wrong string\n", after);
  }
  kiln_error_delete(calls_echo_string_post_return(e));
}

static kiln_cval_t cval_string(const char *p, size_t len) {
  kiln_cval_t v;
  memset(&v, 0, sizeof v);
  v.kind = KILN_CVAL_STRING;
  v.of.string.ptr = (char *)(uintptr_t)p;
  v.of.string.len = len;
  return v;
}

static void typed_mistakes(const calls_exports_t *e, const kiln_component_instance_t *inst) {
  kiln_string_t s = {"a\xff", 2}, out;
  show(inst, "typed invalid utf-8", calls_echo_string(e, s, &out));
  still_works(e, "invalid utf-8");
  kiln_string_t null_str = {NULL, 3};
  show(inst, "typed NULL string", calls_echo_string(e, null_str, &out));
  calls_list_u32_t null_list = {NULL, 2}, list_out;
  show(inst, "typed NULL list", calls_echo_list(e, null_list, &list_out));
  kiln_string_t words[] = {{"one", 3}, {"tw\xc3", 3}};
  calls_list_string_t strs = {words, 2}, strs_out;
  show(inst, "typed nested utf-8", calls_echo_strings(e, strs, &strs_out));
  calls_rec_t rec = {1, {"x", 1}, 0x110000}, rec_out;
  show(inst, "typed record char", calls_echo_rec(e, rec, &rec_out));
  uint32_t c = 0;
  show(inst, "typed surrogate", calls_echo_char(e, 0xD800, &c));
  calls_en_t en = 0;
  show(inst, "typed enum", calls_echo_enum(e, 3, &en));
  calls_fl_t fl = 0;
  show(inst, "typed flags", calls_echo_flags(e, 8, &fl));
  calls_var_t var;
  memset(&var, 0, sizeof var);
  var.tag = 4;
  uint64_t packed = 0;
  show(inst, "typed variant", calls_variant_arg(e, var, &packed));
  calls_option_u32_t opt = {0, 5};
  memset(&opt, 0, sizeof opt);
  *(uint8_t *)&opt = 2;
  uint32_t combined = 0;
  show(inst, "typed option", calls_option_arg(e, opt, &combined));
  calls_result_string_u32_t res, res_out;
  memset(&res, 0, sizeof res);
  res.tag = CALLS_RESULT_STRING_U32_OK;
  res.payload.ok.ptr = NULL;
  res.payload.ok.len = 1;
  show(inst, "typed result payload", calls_echo_result(e, res, &res_out));
  uint8_t two = 2, b_out = 0;
  show(inst, "raw bool", kiln_component_func_call_raw(e->echo_bool, &two, &b_out));
  show(inst, "raw bool (per-call)",
       kiln_component_func_call_raw_begin(e->echo_bool, &two, &b_out, NULL));
  /* A per-call post-return handle: the call's own, freed by its post-return. */
  uint8_t one = 1;
  kiln_component_call_t *call = NULL;
  kiln_error_t *err = kiln_component_func_call_raw_begin(e->echo_bool, &one, &b_out, &call);
  if (err || !call || b_out != 1) {
    failures++;
    printf("FAILED: per-call raw call: %s\n", err ? kiln_error_message(err) : "wrong result");
    kiln_error_delete(err);
  } else if ((err = kiln_component_call_post_return(call)) != NULL) {
    failures++;
    printf("FAILED: per-call post-return: %s\n", kiln_error_message(err));
    kiln_error_delete(err);
  }
  show(inst, "post-return of NULL", kiln_component_call_post_return(NULL));
  still_works(e, "typed mistakes");
  printf("typed mistakes: poisoned %d\n", kiln_component_instance_is_poisoned(inst));
}

static void dynamic_mistakes(const calls_exports_t *e, const kiln_component_instance_t *inst) {
  kiln_cval_t result;
  kiln_cval_t arg = cval_string("b\xc0", 2);
  show(inst, "dynamic invalid utf-8",
       kiln_component_func_call(e->echo_string, &arg, 1, &result));
  arg = cval_string(NULL, 3);
  show(inst, "dynamic NULL string",
       kiln_component_func_call(e->echo_string, &arg, 1, &result));
  kiln_cval_t en;
  memset(&en, 0, sizeof en);
  en.kind = KILN_CVAL_ENUM;
  en.of.enumeration = 9;
  show(inst, "dynamic enum", kiln_component_func_call(e->echo_enum, &en, 1, &result));
  uint32_t word = 0x10;
  kiln_cval_t fl;
  memset(&fl, 0, sizeof fl);
  fl.kind = KILN_CVAL_FLAGS;
  fl.of.flags.words = &word;
  fl.of.flags.len = 1;
  show(inst, "dynamic flags", kiln_component_func_call(e->echo_flags, &fl, 1, &result));
  still_works(e, "dynamic mistakes");
  printf("dynamic mistakes: poisoned %d\n", kiln_component_instance_is_poisoned(inst));
}

/* The import of hh.h (not called here). */
kiln_error_t *hh_host_inspect(void *env, const kiln_component_instance_t *instance,
                              hh_borrow_thing_t t, uint32_t *ret) {
  (void)env;
  (void)instance;
  *ret = t;
  return NULL;
}

/* Handles that are not in the host handle table: errors, not traps. */
static void handle_mistakes(kiln_engine_t *engine, const char *path) {
  kiln_component_t *component = NULL;
  kiln_component_linker_t *linker = NULL;
  kiln_component_instance_t *inst = NULL;
  hh_exports_t e;
  uint32_t thing = 0, h = 0, r = 0;
  memset(&e, 0, sizeof e);
  kiln_error_t *err = kiln_component_load(engine, path, &component);
  if (!err)
    err = kiln_component_linker_new(engine, &linker);
  if (!err)
    err = hh_link_imports(linker, NULL);
  if (!err)
    err = kiln_component_linker_instantiate(linker, component, &inst);
  if (!err)
    err = hh_exports_init(&e, inst);
  if (!err)
    err = kiln_component_instance_resource_type(inst, "thing", &thing);
  if (!err)
    err = kiln_component_instance_resource_new(inst, thing, 42, &h);
  if (err) {
    fprintf(stderr, "handles setup: %s\n", kiln_error_message(err));
    exit(1);
  }
  hh_own_thing_t moved = 0;
  show(inst, "typed unknown own", hh_pass(&e, 999, &moved));
  show(inst, "typed unknown borrow", hh_call_inspect(&e, 998, &r));
  kiln_cval_t arg, result;
  memset(&arg, 0, sizeof arg);
  arg.kind = KILN_CVAL_OWN;
  arg.of.handle = 997;
  show(inst, "dynamic unknown own", kiln_component_func_call(e.pass, &arg, 1, &result));
  /* One handle moved and lent by the same call. */
  show(inst, "typed own and borrow of one handle", hh_both(&e, h, h, &moved));
  uint32_t h2 = 0;
  err = kiln_component_instance_resource_new(inst, thing, 43, &h2);
  if (!err)
    err = hh_both(&e, h, h2, &moved);
  if (!err)
    err = hh_both_post_return(&e);
  if (!err)
    h = moved;
  if (!err)
    err = hh_pass(&e, h, &moved);
  if (!err)
    err = hh_pass_post_return(&e);
  printf("valid handle after mistakes: %s, poisoned %d\n", err ? kiln_error_message(err) : "ok",
         kiln_component_instance_is_poisoned(inst));
  kiln_error_delete(err);
  hh_exports_delete(&e);
  kiln_component_instance_delete(inst);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
}

/* The imports of hi.h: greet-host answers with a NULL string of length 3 (a host mistake in
 * a result, which must not crash the process). */
kiln_error_t *hi_host_log_log(void *env, const kiln_component_instance_t *instance,
                              kiln_string_t msg) {
  (void)env;
  (void)instance;
  (void)msg;
  return NULL;
}

kiln_error_t *hi_host_greet_host(void *env, const kiln_component_instance_t *instance,
                                 kiln_string_t name, kiln_string_t *ret) {
  (void)env;
  (void)instance;
  (void)name;
  ret->ptr = NULL;
  ret->len = 3;
  return NULL;
}

static void result_mistake(kiln_engine_t *engine, const char *path) {
  kiln_component_t *component = NULL;
  kiln_component_linker_t *linker = NULL;
  kiln_component_instance_t *inst = NULL;
  hi_exports_t e;
  memset(&e, 0, sizeof e);
  kiln_error_t *err = kiln_component_load(engine, path, &component);
  if (!err)
    err = kiln_component_linker_new(engine, &linker);
  if (!err)
    err = hi_link_imports(linker, NULL);
  if (!err)
    err = kiln_component_linker_instantiate(linker, component, &inst);
  if (!err)
    err = hi_exports_init(&e, inst);
  if (err) {
    fprintf(stderr, "host imports setup: %s\n", kiln_error_message(err));
    exit(1);
  }
  kiln_string_t name = {"x", 1}, out;
  /* The guest's call of the import fails: a trap inside the export call, which poisons. */
  show(inst, "raw callback NULL result", hi_greet(&e, name, &out));
  hi_exports_delete(&e);
  kiln_component_instance_delete(inst);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CALLS.so HANDLES.so HOST_IMPORTS.so\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_component_t *component = NULL;
  kiln_component_linker_t *linker = NULL;
  kiln_component_instance_t *inst = NULL;
  kiln_error_t *err = kiln_component_load(engine, argv[1], &component);
  if (!err)
    err = kiln_component_linker_new(engine, &linker);
  if (!err)
    err = kiln_component_linker_instantiate(linker, component, &inst);
  calls_exports_t e;
  memset(&e, 0, sizeof e);
  if (!err)
    err = calls_exports_init(&e, inst);
  if (err) {
    fprintf(stderr, "setup: %s\n", kiln_error_message(err));
    return 1;
  }
  printf("fresh: poisoned %d\n", kiln_component_instance_is_poisoned(inst));
  typed_mistakes(&e, inst);
  dynamic_mistakes(&e, inst);
  /* A guest that returns an invalid enum traps: the instance is poisoned. */
  calls_en_t en = 0;
  show(inst, "guest trap", calls_bad_enum(&e, &en));
  show(inst, "after trap", calls_echo_enum(&e, 1, &en));
  printf("NULL instance: poisoned %d\n", kiln_component_instance_is_poisoned(NULL));
  handle_mistakes(engine, argv[2]);
  result_mistake(engine, argv[3]);
  calls_exports_delete(&e);
  kiln_component_instance_delete(inst);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
  kiln_engine_delete(engine);
  printf("failures: %d\n", failures);
  return failures ? 1 : 0;
}
