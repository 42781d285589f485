/*
 * host.c: a sample C host for kiln.
 *
 * Loads a kiln-compiled module (.so) with no imports, instantiates it and calls one of its
 * exported functions with arguments given on the command line, printing the results one per
 * line. Traps and other errors are printed to stderr (exit status 1).
 *
 *   kiln compile samples/fib.wat -o fib.so
 *   ./host fib.so fib 20          # prints 6765
 *   ./host fib.so divide 1 0      # prints "error: integer divide by zero" (+ backtrace)
 *
 * See README.md for the build command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

/* Prints an error (with the trap kind and backtrace for traps), frees it, returns 1. */
static int report(kiln_error_t *err) {
  const kiln_trap_t *trap = kiln_error_trap(err);
  if (trap) {
    fprintf(stderr, "error: %s (trap kind %d)\n", kiln_trap_message(trap),
            (int)kiln_trap_kind(trap));
    for (size_t i = 0; i < kiln_trap_frame_count(trap); i++) {
      kiln_frame_t f;
      if (!kiln_trap_frame(trap, i, &f)) continue;
      fprintf(stderr, "    %zu: %s", i, f.func_name ? f.func_name : "<unnamed>");
      fprintf(stderr, " (function %" PRIu32, f.func_index);
      if (f.has_wasm_offset) fprintf(stderr, ", offset 0x%" PRIx32, f.wasm_offset);
      fprintf(stderr, ")\n");
    }
  } else {
    fprintf(stderr, "error: %s\n", kiln_error_display(err));
  }
  kiln_error_delete(err);
  return 1;
}

/* Parses `text` as a value of `kind` into `*out`; returns 0 on success. */
static int parse_arg(const char *text, kiln_valkind_t kind, kiln_val_t *out) {
  char *end = NULL;
  errno = 0;
  out->kind = kind;
  switch (kind) {
  case KILN_I32: out->of.i32 = (int32_t)strtoll(text, &end, 0); break;
  case KILN_I64: out->of.i64 = (int64_t)strtoll(text, &end, 0); break;
  case KILN_F32: out->of.f32 = strtof(text, &end); break;
  case KILN_F64: out->of.f64 = strtod(text, &end); break;
  default:
    fprintf(stderr, "error: parameters of kind %d cannot be given on the command line\n",
            (int)kind);
    return 1;
  }
  if (errno != 0 || end == text || *end != '\0') {
    fprintf(stderr, "error: bad argument `%s`\n", text);
    return 1;
  }
  return 0;
}

static void print_val(const kiln_val_t *v) {
  switch (v->kind) {
  case KILN_I32: printf("%" PRId32 "\n", v->of.i32); break;
  case KILN_I64: printf("%" PRId64 "\n", v->of.i64); break;
  case KILN_F32: printf("%g\n", (double)v->of.f32); break;
  case KILN_F64: printf("%g\n", v->of.f64); break;
  case KILN_V128:
    printf("0x");
    for (int i = 15; i >= 0; i--) printf("%02x", v->of.v128[i]);
    printf("\n");
    break;
  case KILN_FUNCREF: printf(v->of.funcref ? "funcref\n" : "null funcref\n"); break;
  case KILN_EXTERNREF: printf("externref %" PRIu64 "\n", v->of.externref); break;
  default: printf("?\n");
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODULE.so EXPORT [ARGS...]\n", argv[0]);
    return 2;
  }
  int status = 1;
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_module_t *module = NULL;
  kiln_linker_t *linker = NULL;
  kiln_instance_t *instance = NULL;
  kiln_func_t *func = NULL;
  kiln_val_t *args = NULL, *results = NULL;
  kiln_error_t *err;

  if (!engine) {
    fprintf(stderr, "error: cannot create engine\n");
    return 1;
  }
  if ((err = kiln_module_load(engine, argv[1], &module))) goto fail;
  if ((err = kiln_linker_new(engine, &linker))) goto fail;
  if ((err = kiln_linker_instantiate(linker, module, &instance))) goto fail;
  if ((err = kiln_instance_get_func(instance, argv[2], &func))) goto fail;

  size_t nparams = kiln_func_param_count(func), nresults = kiln_func_result_count(func);
  if ((size_t)(argc - 3) != nparams) {
    fprintf(stderr, "error: `%s` takes %zu arguments, got %d\n", argv[2], nparams, argc - 3);
    goto done;
  }
  args = calloc(nparams + 1, sizeof(kiln_val_t));
  results = calloc(nresults + 1, sizeof(kiln_val_t));
  if (!args || !results) goto done;
  for (size_t i = 0; i < nparams; i++)
    if (parse_arg(argv[3 + i], kiln_func_param_type(func, i), &args[i])) goto done;
  if ((err = kiln_func_call(func, args, nparams, results, nresults))) goto fail;
  for (size_t i = 0; i < nresults; i++) {
    print_val(&results[i]);
    kiln_val_delete(&results[i]);
  }
  status = 0;
  goto done;

fail:
  status = report(err);
done:
  free(args);
  free(results);
  kiln_func_delete(func);
  kiln_instance_delete(instance);
  kiln_linker_delete(linker);
  kiln_module_delete(module);
  kiln_engine_delete(engine);
  return status;
}
