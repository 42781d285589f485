/*
 * trust_test.c: hostile files and artifact signatures through the kiln C API (built and run by
 * tests/tests/capi.rs).
 *
 * Usage: trust_test MARKER SECRET_KEY PUBLIC_KEY OTHER_PUBLIC_KEY MODULE.so COMPONENT.so
 *                   UNSIGNED.so HOSTILE...
 *   MARKER      a file a hostile file's constructor would create: it must never appear
 *   SECRET_KEY  a secret key (kiln keygen); PUBLIC_KEY its public key; OTHER_PUBLIC_KEY another
 *   MODULE.so   a module exporting `load(i32) -> i32` over a memory starting with "kiln"
 *   COMPONENT.so a component; UNSIGNED.so a valid module never signed
 *   HOSTILE...  files loading must refuse (KILN_ERROR_LOAD) without running anything
 * Prints one line per check; any failed expectation prints "FAIL ..." and the program exits
 * with status 1 at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* Expects a load error whose message contains `what`; prints "<label>: refused: <message>". */
static void expect_refused(const char *label, kiln_error_t *e, const char *what) {
  CHECK(e != NULL);
  if (!e) return;
  CHECK(kiln_error_kind(e) == KILN_ERROR_LOAD);
  if (!strstr(kiln_error_message(e), what)) {
    printf("FAIL %s: expected `%s` in: %s\n", label, what, kiln_error_message(e));
    failures++;
  }
  printf("%s: refused: %s\n", label, kiln_error_message(e));
  kiln_error_delete(e);
}

/* Loads `path` as a module and calls load(0); returns the result (-1 on failure). */
static int load_and_call(kiln_engine_t *engine, const char *path) {
  kiln_module_t *module = NULL;
  kiln_instance_t *instance = NULL;
  kiln_func_t *load = NULL;
  kiln_val_t arg = {.kind = KILN_I32, .of = {.i32 = 0}};
  kiln_val_t result = {0};
  int value = -1;
  kiln_error_t *e = kiln_module_load(engine, path, &module);
  if (e) {
    printf("FAIL load %s: %s\n", path, kiln_error_message(e));
    failures++;
    kiln_error_delete(e);
    return -1;
  }
  OK(kiln_instance_new(module, NULL, 0, &instance));
  if (instance) OK(kiln_instance_get_func(instance, "load", &load));
  if (load) {
    OK(kiln_func_call(load, &arg, 1, &result, 1));
    value = result.of.i32;
  }
  kiln_func_delete(load);
  kiln_instance_delete(instance);
  kiln_module_delete(module);
  return value;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: %s MARKER SECRET PUBLIC OTHER_PUBLIC MODULE COMPONENT UNSIGNED "
                    "HOSTILE...\n", argv[0]);
    return 2;
  }
  const char *marker = argv[1], *secret = argv[2], *public_key = argv[3], *other = argv[4];
  const char *module_path = argv[5], *component_path = argv[6], *unsigned_path = argv[7];

  /* Hostile files: a clean KILN_ERROR_LOAD from both loaders, and nothing ran. */
  kiln_engine_t *engine = kiln_engine_new(NULL);
  CHECK(engine != NULL);
  for (int i = 8; i < argc; i++) {
    kiln_module_t *m = NULL;
    kiln_component_t *c = NULL;
    char label[64];
    snprintf(label, sizeof label, "hostile %d module", i - 8);
    expect_refused(label, kiln_module_load(engine, argv[i], &m), "refused before loading");
    CHECK(m == NULL);
    snprintf(label, sizeof label, "hostile %d component", i - 8);
    expect_refused(label, kiln_component_load(engine, argv[i], &c), "refused before loading");
    CHECK(c == NULL);
    CHECK(access(marker, F_OK) != 0);
  }
  printf("hostile files: %d refused, marker %s\n", argc - 8,
         access(marker, F_OK) == 0 ? "WRITTEN" : "absent");

  /* Checking without loading, signing, verifying a signature. */
  OK(kiln_artifact_verify(NULL, module_path, NULL));
  expect_refused("verify hostile", kiln_artifact_verify(NULL, argc > 8 ? argv[8] : "/", NULL),
                 "");
  OK(kiln_artifact_sign(secret, module_path, NULL));
  OK(kiln_artifact_sign(secret, component_path, NULL));
  kiln_trusted_keys_t *keys = NULL, *other_keys = NULL, *bad = NULL;
  OK(kiln_trusted_keys_load(public_key, &keys));
  OK(kiln_trusted_keys_load(other, &other_keys));
  kiln_error_t *e = kiln_trusted_keys_load(module_path, &bad);
  CHECK(e != NULL && bad == NULL);
  kiln_error_delete(e);
  OK(kiln_artifact_verify(keys, module_path, NULL));
  expect_refused("verify with another key", kiln_artifact_verify(other_keys, module_path, NULL),
                 "not trusted");
  printf("signed and verified\n");

  /* An engine that requires signatures by `keys`. */
  kiln_engine_config_t config;
  kiln_engine_config_default(&config);
  CHECK(config.trusted_keys == NULL && !config.always_copy);
  config.trusted_keys = keys;
  kiln_engine_t *strict = kiln_engine_new(&config);
  kiln_trusted_keys_delete(keys); /* the engine keeps its own copy */
  printf("signed module: load(0) = %d\n", load_and_call(strict, module_path));
  kiln_component_t *component = NULL;
  OK(kiln_component_load(strict, component_path, &component));
  kiln_component_delete(component);
  kiln_module_t *m = NULL;
  expect_refused("unsigned module", kiln_module_load(strict, unsigned_path, &m),
                 "a signature is required");

  /* An engine trusting another key, and one that always loads a sealed copy. */
  config.trusted_keys = other_keys;
  kiln_engine_t *wrong = kiln_engine_new(&config);
  expect_refused("signed by an untrusted key", kiln_module_load(wrong, module_path, &m),
                 "not trusted");
  kiln_engine_config_default(&config);
  config.always_copy = true;
  kiln_engine_t *copying = kiln_engine_new(&config);
  printf("private copy: load(0) = %d\n", load_and_call(copying, module_path));

  kiln_trusted_keys_delete(other_keys);
  kiln_engine_delete(copying);
  kiln_engine_delete(wrong);
  kiln_engine_delete(strict);
  kiln_engine_delete(engine);
  printf("failures: %d\n", failures);
  return failures ? 1 : 0;
}
