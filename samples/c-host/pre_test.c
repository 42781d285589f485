/*
 * pre_test.c: pre-instantiation through the C API (kiln_linker_instantiate_pre(),
 * kiln_component_linker_instantiate_pre()), with the engine's reservation pool underneath.
 *
 * Usage: pre_test MODULE.so COMPONENT.so
 *   MODULE.so     a core module importing `host.base: () -> i32`, exporting `memory`
 *                 (1 page), `f: () -> i32` (base() + 1) and `dirty: ()` (fills its memory)
 *   COMPONENT.so  tests/components/calls.wat compiled by kiln (exports `echo-u32`)
 *
 * Prints one line per check and `failures: N`; exits non-zero on a failure.
 */
#include <kiln.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

static int failed(kiln_error_t *err, const char *what) {
  if (!err)
    return 0;
  printf("%s: error: %s\n", what, kiln_error_message(err));
  kiln_error_delete(err);
  failures++;
  return 1;
}

static kiln_error_t *base(void *env, const kiln_val_t *args, size_t nargs, kiln_val_t *results,
                          size_t nresults) {
  (void)env;
  (void)args;
  (void)nargs;
  (void)nresults;
  results[0].kind = KILN_I32;
  results[0].of.i32 = 41;
  return NULL;
}

/* Instantiates the module through `pre` `n` times: each instance's memory is all zero, `f()`
 * is 42; then the instance dirties its memory for the next one. Returns the good rounds. */
static int core_rounds(const kiln_instance_pre_t *pre, int n) {
  int good = 0;
  for (int round = 0; round < n; round++) {
    kiln_instance_t *inst = NULL;
    kiln_func_t *f = NULL, *dirty = NULL;
    kiln_memory_t *mem = NULL;
    if (failed(kiln_instance_pre_instantiate(pre, &inst), "pre instantiate") ||
        failed(kiln_instance_get_func(inst, "f", &f), "get f") ||
        failed(kiln_instance_get_func(inst, "dirty", &dirty), "get dirty") ||
        failed(kiln_instance_get_memory(inst, "memory", &mem), "get memory")) {
      kiln_instance_delete(inst);
      return good;
    }
    const uint8_t *data = kiln_memory_data(mem);
    size_t size = kiln_memory_data_size(mem), nonzero = 0;
    for (size_t i = 0; i < size; i++)
      nonzero += data[i] != 0;
    kiln_val_t result;
    memset(&result, 0, sizeof result);
    if (!failed(kiln_func_call(f, NULL, 0, &result, 1), "call f") && result.of.i32 == 42 &&
        size == 65536 && nonzero == 0 && !failed(kiln_func_call(dirty, NULL, 0, NULL, 0), "dirty"))
      good++;
    else
      printf("round %d: f %d, size %zu, nonzero bytes %zu\n", round, result.of.i32, size,
             nonzero);
    kiln_memory_delete(mem);
    kiln_func_delete(f);
    kiln_func_delete(dirty);
    kiln_instance_delete(inst);
  }
  return good;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: pre_test MODULE.so COMPONENT.so\n");
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_module_t *module = NULL;
  kiln_linker_t *linker = NULL;
  if (failed(kiln_module_load(engine, argv[1], &module), "load module") ||
      failed(kiln_linker_new(engine, &linker), "linker"))
    return 1;

  /* Missing import: the pre is refused with a link error. */
  kiln_instance_pre_t *pre = NULL;
  kiln_error_t *err = kiln_linker_instantiate_pre(linker, module, &pre);
  printf("pre without import: error kind %d, pre %s\n", err ? (int)kiln_error_kind(err) : -1,
         pre ? "set" : "NULL");
  kiln_error_delete(err);

  kiln_valkind_t i32 = KILN_I32;
  if (failed(kiln_linker_define_func(linker, "host", "base", NULL, 0, &i32, 1, base, NULL, NULL),
             "define base") ||
      failed(kiln_linker_instantiate_pre(linker, module, &pre), "instantiate_pre"))
    return 1;
  /* The pre outlives the linker and the module handles. */
  kiln_linker_delete(linker);
  kiln_module_delete(module);
  printf("core pre rounds: %d/20\n", core_rounds(pre, 20));
  kiln_instance_pre_delete(pre);
  kiln_instance_pre_delete(NULL);

  /* Components. */
  kiln_component_t *component = NULL;
  kiln_component_linker_t *clinker = NULL;
  kiln_component_pre_t *cpre = NULL;
  if (failed(kiln_component_load(engine, argv[2], &component), "load component") ||
      failed(kiln_component_linker_new(engine, &clinker), "component linker") ||
      failed(kiln_component_linker_instantiate_pre(clinker, component, &cpre), "component pre"))
    return 1;
  kiln_component_linker_delete(clinker);
  kiln_component_delete(component);
  int good = 0;
  for (uint32_t round = 0; round < 10; round++) {
    kiln_component_instance_t *inst = NULL;
    kiln_component_func_t *echo = NULL;
    if (failed(kiln_component_pre_instantiate(cpre, &inst), "component pre instantiate") ||
        failed(kiln_component_instance_get_func(inst, "echo-u32", &echo), "get echo-u32")) {
      kiln_component_instance_delete(inst);
      break;
    }
    kiln_cval_t arg, result;
    memset(&arg, 0, sizeof arg);
    memset(&result, 0, sizeof result);
    arg.kind = KILN_CVAL_U32;
    arg.of.u32 = 1000 + round;
    if (!failed(kiln_component_func_call(echo, &arg, 1, &result), "echo-u32") &&
        result.kind == KILN_CVAL_U32 && result.of.u32 == 1000 + round)
      good++;
    kiln_component_func_delete(echo);
    kiln_component_instance_delete(inst);
  }
  printf("component pre rounds: %d/10\n", good);
  kiln_component_pre_delete(cpre);
  kiln_component_pre_delete(NULL);

  /* NULL arguments are errors, not crashes. */
  kiln_instance_t *none = NULL;
  err = kiln_instance_pre_instantiate(NULL, &none);
  printf("null pre: error kind %d\n", err ? (int)kiln_error_kind(err) : -1);
  kiln_error_delete(err);
  kiln_engine_delete(engine);
  printf("failures: %d\n", failures);
  return failures != 0;
}
