/*
 * Lists a component's exported functions with their parameter and result types, walking the
 * kiln_ctype_t trees of the C API (no WIT parsing):
 *
 *   introspect COMPONENT.so
 *
 * prints one line per function: `name(param: type, ...) -> type`, with types spelled as WIT
 * spells them. tests/tests/component_introspection.rs checks the output.
 */
#include "kiln.h"

#include <stdio.h>

static void print_type(const kiln_ctype_t *t);

static void print_children(const kiln_ctype_t *t, const char *open, const char *close) {
  printf("%s", open);
  for (size_t i = 0; i < kiln_ctype_count(t); i++) {
    if (i) printf(", ");
    const char *name = kiln_ctype_name(t, i);
    const kiln_ctype_t *child = kiln_ctype_child(t, i);
    if (name) printf("%s", name);
    if (name && child) printf(": ");
    if (child) print_type(child);
  }
  printf("%s", close);
}

static void print_type(const kiln_ctype_t *t) {
  static const char *const scalars[] = {"bool", "s8",  "u8",  "s16", "u16", "s32", "u32",
                                        "s64",  "u64", "f32", "f64", "char", "string"};
  kiln_cval_kind_t k = kiln_ctype_kind(t);
  if (k <= KILN_CVAL_STRING) {
    printf("%s", scalars[k]);
    return;
  }
  switch (k) {
  case KILN_CVAL_LIST:
    printf("list<");
    print_type(kiln_ctype_child(t, 0));
    if (kiln_ctype_index(t)) printf(", %u", kiln_ctype_index(t));
    printf(">");
    break;
  case KILN_CVAL_OPTION:
    printf("option<");
    print_type(kiln_ctype_child(t, 0));
    printf(">");
    break;
  case KILN_CVAL_RECORD: print_children(t, "record { ", " }"); break;
  case KILN_CVAL_VARIANT: print_children(t, "variant { ", " }"); break;
  case KILN_CVAL_ENUM: print_children(t, "enum { ", " }"); break;
  case KILN_CVAL_FLAGS: print_children(t, "flags { ", " }"); break;
  case KILN_CVAL_TUPLE: print_children(t, "tuple<", ">"); break;
  case KILN_CVAL_RESULT:
    printf("result<");
    if (kiln_ctype_child(t, 0)) print_type(kiln_ctype_child(t, 0));
    else printf("_");
    printf(", ");
    if (kiln_ctype_child(t, 1)) print_type(kiln_ctype_child(t, 1));
    else printf("_");
    printf(">");
    break;
  case KILN_CVAL_OWN: printf("own<%u>", kiln_ctype_index(t)); break;
  case KILN_CVAL_BORROW: printf("borrow<%u>", kiln_ctype_index(t)); break;
  default: printf("?"); break;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s COMPONENT.so\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_component_t *component = NULL;
  kiln_component_linker_t *linker = NULL;
  kiln_component_instance_t *instance = NULL;
  kiln_error_t *e = kiln_component_load(engine, argv[1], &component);
  if (!e) e = kiln_component_linker_new(engine, &linker);
  if (!e) e = kiln_component_linker_instantiate(linker, component, &instance);
  if (e) {
    fprintf(stderr, "error: %s\n", kiln_error_message(e));
    return 1;
  }
  for (size_t i = 0; i < kiln_component_export_count(component); i++) {
    const char *name = kiln_component_export_name(component, i);
    kiln_component_func_t *f = NULL;
    e = kiln_component_instance_get_func(instance, name, &f);
    if (e) {
      fprintf(stderr, "error: %s: %s\n", name, kiln_error_message(e));
      return 1;
    }
    printf("%s(", name);
    for (size_t p = 0; p < kiln_component_func_param_count(f); p++) {
      if (p) printf(", ");
      printf("%s: ", kiln_component_func_param_name(f, p));
      print_type(kiln_component_func_param_type(f, p));
    }
    printf(")");
    if (kiln_component_func_result_type(f)) {
      printf(" -> ");
      print_type(kiln_component_func_result_type(f));
    }
    printf("\n");
    kiln_component_func_delete(f);
  }
  /* Out of range and NULL give NULL/0, never a crash. */
  if (kiln_component_export_name(component, 1000) || kiln_ctype_count(NULL) ||
      kiln_ctype_child(NULL, 0) || kiln_ctype_kind(NULL) != 0xFF)
    return 1;
  kiln_component_instance_delete(instance);
  kiln_component_linker_delete(linker);
  kiln_component_delete(component);
  kiln_engine_delete(engine);
  return 0;
}
