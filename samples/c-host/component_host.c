/*
 * component_host.c: a C host for a kiln-compiled *component*, through the typed header that
 * `kiln bindgen c` writes for the component's world (greeter.h, from greeter.wat).
 *
 * Usage: component_host GREETER.so NAME NUMBER...
 *
 * It implements the component's import `log` as an ordinary C function, instantiates the
 * component, and calls its exports as ordinary typed C functions: greet(NAME), stats(NUMBERS),
 * and parse-digit on NAME's first character. Errors (a trap is one) go to stderr, exit
 * status 1. See README.md for the build commands.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greeter.h"

/* The import `log: func(msg: string)`: called by the guest, here an ordinary C function. */
kiln_error_t *greeter_host_log(void *env, const kiln_component_instance_t *instance,
                               kiln_string_t msg) {
  (void)env;      /* what greeter_link_imports() was given */
  (void)instance; /* the calling instance */
  printf("guest log: %.*s\n", (int)msg.len, msg.ptr);
  return NULL; /* or kiln_error_new(...) to make the guest trap */
}

/* Prints and frees `err` if set; returns whether it was. */
static int report(kiln_error_t *err, const char *what) {
  if (!err)
    return 0;
  const kiln_trap_t *trap = kiln_error_trap(err);
  if (trap)
    fprintf(stderr, "%s: trap: %s\n", what, kiln_trap_message(trap));
  else
    fprintf(stderr, "%s: %s\n", what, kiln_error_display(err));
  kiln_error_delete(err);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s GREETER.so NAME [NUMBER...]\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_component_t *component = NULL;
  kiln_component_linker_t *linker = NULL;
  kiln_component_instance_t *instance = NULL;
  greeter_exports_t ex;
  memset(&ex, 0, sizeof ex);
  int status = 1;
  if (report(kiln_component_load(engine, argv[1], &component), "load") ||
      report(kiln_component_linker_new(engine, &linker), "linker") ||
      report(greeter_link_imports(linker, NULL), "link imports") ||
      report(kiln_component_linker_instantiate(linker, component, &instance), "instantiate") ||
      report(greeter_exports_init(&ex, instance), "exports"))
    goto out;

  /* greet: a string in, a string out (pointing into guest memory until the post-return) */
  kiln_string_t name = {argv[2], strlen(argv[2])}, greeting;
  if (report(greeter_greet(&ex, name, &greeting), "greet"))
    goto out;
  printf("%.*s\n", (int)greeting.len, greeting.ptr);
  if (report(greeter_greet_post_return(&ex), "greet post-return"))
    goto out;

  /* stats: a list in, a record out */
  int argn = argc - 3;
  int32_t *nums = calloc(argn ? (size_t)argn : 1, sizeof *nums);
  for (int i = 0; i < argn; i++)
    nums[i] = (int32_t)strtol(argv[3 + i], NULL, 10);
  greeter_list_s32_t xs = {nums, (size_t)argn};
  greeter_summary_t summary;
  kiln_error_t *err = greeter_stats(&ex, xs, &summary);
  free(nums);
  if (report(err, "stats"))
    goto out;
  printf("count %u, sum %" PRId64 ", min %d, max %d\n", summary.count, summary.sum, summary.min,
         summary.max);

  /* parse-digit: a result<u8, string> */
  greeter_result_u8_string_t digit;
  if (report(greeter_parse_digit(&ex, (uint32_t)(unsigned char)argv[2][0], &digit), "parse-digit"))
    goto out;
  if (digit.tag == GREETER_RESULT_U8_STRING_OK)
    printf("digit %u\n", digit.payload.ok);
  else
    printf("error: %.*s\n", (int)digit.payload.err.len, digit.payload.err.ptr);
  if (report(greeter_parse_digit_post_return(&ex), "parse-digit post-return"))
    goto out;
  status = 0;

out:
  greeter_exports_delete(&ex);
  kiln_component_instance_delete(instance);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
  kiln_engine_delete(engine);
  return status;
}
