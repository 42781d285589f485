/*
 * wasi_bindgen_host.c: a host for a component that imports WASI *and* an interface of its own,
 * with a `kiln bindgen c` header: WASI comes from kiln_component_linker_add_wasi() (the header
 * leaves the `wasi:*` imports out), `test:app/notes` from app_host_notes_note() below, which
 * gets the environment given to app_link_imports() and the calling instance.
 *
 * Usage: wasi_bindgen_host APP.so ARGS...
 *   APP.so  tests/components/wasi-app.wat compiled by kiln (header: app.h)
 *
 * Runs `wasi:cli/run#run` through the typed header (program name APP.so, then ARGS, which the
 * guest prints), then prints what the host saw.
 */
#include <stdio.h>
#include <stdlib.h>

#include "app.h"

/* The host's state, handed to app_link_imports() and back to every host function. */
typedef struct {
  unsigned calls;
  uint32_t last;
  const kiln_component_instance_t *instance;
} notes_t;

kiln_error_t *app_host_notes_note(void *env, const kiln_component_instance_t *instance,
                                  uint32_t n, uint32_t *ret) {
  notes_t *notes = env;
  notes->calls++;
  notes->last = n;
  notes->instance = instance;
  *ret = n + 100;
  return NULL;
}

static int fail(kiln_error_t *e, const char *what) {
  fprintf(stderr, "%s: %s\n", what, kiln_error_message(e));
  kiln_error_delete(e);
  return 70;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s APP.so ARGS...\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_error_t *e;
  kiln_component_t *component;
  if ((e = kiln_component_load(engine, argv[1], &component)))
    return fail(e, "load");
  kiln_component_linker_t *linker;
  if ((e = kiln_component_linker_new(engine, &linker)))
    return fail(e, "linker");
  kiln_wasi_config_t *cfg = kiln_wasi_config_new();
  const char *const *args = (const char *const *)argv + 1;
  if ((e = kiln_wasi_config_set_args(cfg, args, (size_t)(argc - 1))))
    return fail(e, "args");
  kiln_wasi_config_inherit_stdio(cfg);
  if ((e = kiln_component_linker_add_wasi(linker, cfg)))
    return fail(e, "add wasi");
  notes_t notes = {0, 0, NULL};
  if ((e = app_link_imports(linker, &notes)))
    return fail(e, "link imports");
  kiln_component_instance_t *instance;
  if ((e = kiln_component_linker_instantiate(linker, component, &instance)))
    return fail(e, "instantiate");
  app_exports_t exports;
  if ((e = app_exports_init(&exports, instance)))
    return fail(e, "exports");
  app_result_void_void_t result;
  if ((e = app_run_run(&exports, &result)))
    return fail(e, "run");
  fflush(stdout);
  printf("run: %s; note calls %u, last %u, instance %s\n",
         result.tag == APP_RESULT_VOID_VOID_OK ? "ok" : "err", notes.calls, notes.last,
         notes.instance == NULL ? "NULL" : "given");
  app_exports_delete(&exports);
  kiln_component_instance_delete(instance);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
  kiln_engine_delete(engine);
  return 0;
}
