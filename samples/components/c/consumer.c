/*
 * The `consumer` world of wit/inventory.wit, by hand against the canonical ABI: it imports
 * the `counters` interface (another component's resource) and uses it through own and
 * borrow handles; composed with the inventory component by wasm-compose (see ../README.md).
 */
#include <stdint.h>
#include <stdlib.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

#define COUNTERS "kiln:inventory/counters"
IMPORT(COUNTERS, "[constructor]counter") int32_t counter_new(int32_t start);
IMPORT(COUNTERS, "[method]counter.add") int32_t counter_add(int32_t self, int32_t n);
IMPORT(COUNTERS, "[method]counter.get") int32_t counter_get(int32_t self);
IMPORT(COUNTERS, "[static]counter.live") int32_t counter_live(void);
IMPORT(COUNTERS, "[resource-drop]counter") void counter_drop(int32_t handle);

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    if (new_size == 0) return (void *)align;
    void *p = realloc(old, new_size);
    if (!p) abort();
    return p;
}

static _Alignas(8) int32_t RET[2];

/* tally: func(start: s32, steps: list<s32>) -> tuple<s32, u32> */
EXPORT("tally")
int32_t *tally(int32_t start, int32_t *steps, uint32_t n) {
    int32_t h = counter_new(start); /* own<counter> in this component's table */
    for (uint32_t i = 0; i < n; i++) counter_add(h, steps[i]); /* lent as borrow<counter> */
    RET[0] = counter_get(h);
    counter_drop(h); /* the provider's destructor runs */
    RET[1] = counter_live();
    if (n) free(steps); /* an empty list may point anywhere */
    return RET;
}
