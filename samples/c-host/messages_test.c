/*
 * messages_test.c: what a host developer reads when something goes wrong — trap frames with
 * source file and line (a module compiled with debug info), and the messages of common
 * mistakes (a mistyped argument, a component given to the module loader and vice versa, a
 * file that is not there).
 *
 * Usage: messages_test DEBUG.so COMPONENT.so MODULE.so MISSING
 *   DEBUG.so      a module compiled with `-g` exporting `outer` (calls `inner`, which traps)
 *                 and `takes-f64` (param f64)
 *   COMPONENT.so  any component compiled by kiln
 *   MODULE.so     any core module compiled by kiln
 *   MISSING       a path where no file is
 *
 * Prints one line per check; tests/tests/capi_messages.rs compares them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

/* Prints "<what>: <message>" and frees the error (or "<what>: no error"). */
static void show(const char *what, kiln_error_t *err) {
  if (!err) {
    printf("%s: no error\n", what);
    return;
  }
  printf("%s: %s\n", what, kiln_error_message(err));
  kiln_error_delete(err);
}

/* The basename of a path (frames name files as the compiler saw them). */
static const char *base(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static void frames(kiln_engine_t *engine, const char *path) {
  kiln_module_t *module = NULL;
  kiln_linker_t *linker = NULL;
  kiln_instance_t *instance = NULL;
  kiln_func_t *outer = NULL, *takes = NULL;
  kiln_error_t *err = kiln_module_load(engine, path, &module);
  if (!err)
    err = kiln_linker_new(engine, &linker);
  if (!err)
    err = kiln_linker_instantiate(linker, module, &instance);
  if (!err)
    err = kiln_instance_get_func(instance, "outer", &outer);
  if (!err)
    err = kiln_instance_get_func(instance, "takes-f64", &takes);
  if (err) {
    show("setup", err);
    exit(1);
  }
  err = kiln_func_call(outer, NULL, 0, NULL, 0);
  const kiln_trap_t *trap = kiln_error_trap(err);
  size_t n = kiln_trap_frame_count(trap);
  printf("frames: %zu\n", n);
  for (size_t i = 0; i < n; i++) {
    kiln_frame_t frame;
    const char *file = NULL;
    uint32_t line = 0;
    if (!kiln_trap_frame(trap, i, &frame))
      continue;
    bool known = kiln_trap_frame_source(trap, i, &file, &line);
    printf("frame %zu: %s at %s:%u (%d)\n", i, frame.func_name ? frame.func_name : "?",
           known ? base(file) : "?", line, known);
  }
  const char *none = "unset";
  bool found = kiln_trap_frame_source(trap, n, &none, NULL);
  printf("out of range: %d, file %s\n", found, none ? none : "NULL");
  kiln_error_delete(err);

  kiln_val_t arg;
  memset(&arg, 0, sizeof arg);
  arg.kind = KILN_I32;
  arg.of.i32 = 1;
  show("mistyped argument", kiln_func_call(takes, &arg, 1, NULL, 0));

  kiln_func_delete(outer);
  kiln_func_delete(takes);
  kiln_instance_delete(instance);
  kiln_linker_delete(linker);
  kiln_module_delete(module);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s DEBUG.so COMPONENT.so MODULE.so MISSING\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  frames(engine, argv[1]);
  kiln_module_t *module = NULL;
  kiln_component_t *component = NULL;
  show("component as module", kiln_module_load(engine, argv[2], &module));
  show("module as component", kiln_component_load(engine, argv[3], &component));
  show("missing file", kiln_module_load(engine, argv[4], &module));
  kiln_engine_delete(engine);
  return 0;
}
