/*
 * The `inventory` world of wit/inventory.wit, written by hand against the canonical ABI
 * (no generated bindings): flat parameters, lists and strings as (pointer, length) pairs in
 * linear memory allocated by the caller through cabi_realloc, results that do not fit one core
 * value returned through a static return area, cabi_post_* functions freeing what a result
 * allocated, and the `counter` resource through the resource.new/rep/drop intrinsics that
 * wit-component provides under the `[export]kiln:inventory/counters` module.
 *
 * Build recipe: see ../README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

/* ---- memory ------------------------------------------------------------------------- */

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    (void)align; /* malloc aligns to 16, more than any canonical-ABI type needs */
    if (new_size == 0) return (void *)align;
    void *p = realloc(old, new_size);
    if (!p) abort();
    return p;
}

/* The return area for results passed through memory (at most 12 bytes here). */
static _Alignas(8) uint8_t RET[16];

/* ---- types -------------------------------------------------------------------------- */

typedef struct {
    char *ptr;
    uint32_t len;
} str_t;

enum { PERM_READ = 1, PERM_WRITE = 2, PERM_EXEC = 4 };

/* record item: name @0, qty @8, price @16, perms @24; size 32, align 8 */
typedef struct {
    str_t name;
    uint32_t qty;
    double price;
    uint8_t perms;
} item_t;
_Static_assert(sizeof(item_t) == 32, "item layout");

/* Frees an argument buffer. An empty string or list may point anywhere (cabi_realloc gives
 * `align` for zero bytes), so only non-empty ones are freed. */
static void free_buf(void *p, uint32_t len) {
    if (len) free(p);
}

static void free_items(item_t *items, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free_buf(items[i].name.ptr, items[i].name.len);
    free_buf(items, n);
}

/* ---- world exports ------------------------------------------------------------------ */

/* greet: func(name: string) -> string */
EXPORT("greet")
uint8_t *greet(char *name, uint32_t len) {
    static const char hello[] = "hello, ";
    uint32_t n = sizeof hello - 1 + len + 1;
    char *out = malloc(n);
    memcpy(out, hello, sizeof hello - 1);
    memcpy(out + sizeof hello - 1, name, len);
    out[n - 1] = '!';
    free_buf(name, len);
    str_t *r = (str_t *)RET;
    r->ptr = out;
    r->len = n;
    return RET;
}

EXPORT("cabi_post_greet")
void greet_post(uint8_t *ret) { free(((str_t *)ret)->ptr); }

/* total-value: func(items: list<item>) -> f64 */
EXPORT("total-value")
double total_value(item_t *items, uint32_t n) {
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) sum += items[i].qty * items[i].price;
    free_items(items, n);
    return sum;
}

/* area: func(s: shape) -> f32; shape flattens to (case, f32, f32) */
EXPORT("area")
float area(int32_t c, float a, float b) {
    switch (c) {
    case 0: return 3.0f * a * a; /* circle(r), with a coarse pi */
    case 1: return a * b;        /* rect({w, h}) */
    default: return 0.0f;        /* empty */
    }
}

/* find: func(items: list<item>, name: string) -> option<u32>; option @0, value @4 */
EXPORT("find")
uint8_t *find(item_t *items, uint32_t n, char *name, uint32_t len) {
    RET[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (items[i].name.len == len && memcmp(items[i].name.ptr, name, len) == 0) {
            RET[0] = 1;
            *(uint32_t *)(RET + 4) = i;
            break;
        }
    }
    free_items(items, n);
    free_buf(name, len);
    return RET;
}

/* parse-qty: func(s: string) -> result<u32, parse-error>
 * result case @0, ok u32 @4 | err variant: case @4, char @8 */
EXPORT("parse-qty")
uint8_t *parse_qty(char *s, uint32_t len) {
    memset(RET, 0, sizeof RET);
    if (len == 0) {
        RET[0] = 1;
        RET[4] = 0; /* empty */
    } else {
        uint64_t v = 0;
        for (uint32_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch < '0' || ch > '9') {
                RET[0] = 1;
                RET[4] = 1; /* bad-char(c): ASCII only, anything else reports U+FFFD */
                *(uint32_t *)(RET + 8) = ch < 0x80 ? ch : 0xFFFD;
                goto done;
            }
            v = v * 10 + (ch - '0');
            if (v > UINT32_MAX) {
                RET[0] = 1;
                RET[4] = 2; /* overflow */
                goto done;
            }
        }
        RET[0] = 0;
        *(uint32_t *)(RET + 4) = (uint32_t)v;
    }
done:
    free_buf(s, len);
    return RET;
}

/* restock: func(items: list<item>, extra: u32) -> list<item>
 * Reuses the argument list (now owned by the callee) as the result. */
EXPORT("restock")
uint8_t *restock(item_t *items, uint32_t n, uint32_t extra) {
    for (uint32_t i = 0; i < n; i++) {
        items[i].qty += extra;
        items[i].perms |= PERM_WRITE;
    }
    uint32_t *r = (uint32_t *)RET;
    r[0] = (uint32_t)(uintptr_t)items;
    r[1] = n;
    return RET;
}

EXPORT("cabi_post_restock")
void restock_post(uint8_t *ret) {
    uint32_t *r = (uint32_t *)ret;
    free_items((item_t *)(uintptr_t)r[0], r[1]);
}

/* perm-names: func(p: perms) -> list<string>; the strings are static data */
EXPORT("perm-names")
uint8_t *perm_names(int32_t p) {
    static const char *names[] = {"read", "write", "exec"};
    str_t *list = malloc(3 * sizeof(str_t));
    uint32_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (p & (1 << i)) {
            list[n].ptr = (char *)names[i];
            list[n].len = strlen(names[i]);
            n++;
        }
    }
    uint32_t *r = (uint32_t *)RET;
    r[0] = (uint32_t)(uintptr_t)list;
    r[1] = n;
    return RET;
}

EXPORT("cabi_post_perm-names")
void perm_names_post(uint8_t *ret) { free((void *)(uintptr_t)((uint32_t *)ret)[0]); /* malloc'd even when empty */ }

/* classify: func(qty: u32) -> level */
EXPORT("classify")
int32_t classify(uint32_t qty) { return qty < 10 ? 0 : qty < 100 ? 1 : 2; }

/* ---- the counter resource ------------------------------------------------------------ */

#define COUNTERS "[export]kiln:inventory/counters"
IMPORT(COUNTERS, "[resource-new]counter") int32_t counter_new(int32_t rep);
IMPORT(COUNTERS, "[resource-rep]counter") int32_t counter_rep(int32_t handle);
IMPORT(COUNTERS, "[resource-drop]counter") void counter_drop(int32_t handle);

typedef struct {
    int32_t value;
} counter_t;

static uint32_t LIVE;      /* constructed and not destroyed */
static uint32_t DESTROYED; /* destructor calls so far */

EXPORT("kiln:inventory/counters#[constructor]counter")
int32_t counter_ctor(int32_t start) {
    counter_t *c = malloc(sizeof *c);
    c->value = start;
    LIVE++;
    return counter_new((int32_t)(uintptr_t)c);
}

/* A borrow of the component's own resource arrives as its representation. */
EXPORT("kiln:inventory/counters#[method]counter.add")
int32_t counter_add(counter_t *self, int32_t n) { return self->value += n; }

EXPORT("kiln:inventory/counters#[method]counter.get")
int32_t counter_get(counter_t *self) { return self->value; }

EXPORT("kiln:inventory/counters#[static]counter.live")
int32_t counter_live(void) { return (int32_t)LIVE; }

EXPORT("kiln:inventory/counters#[dtor]counter")
void counter_dtor(counter_t *self) {
    LIVE--;
    DESTROYED++;
    free(self);
}

/* counter-demo: func(start: s32, steps: list<s32>) -> tuple<s32, u32> */
EXPORT("counter-demo")
uint8_t *counter_demo(int32_t start, int32_t *steps, uint32_t n) {
    int32_t h = counter_ctor(start);
    counter_t *c = (counter_t *)(uintptr_t)counter_rep(h);
    for (uint32_t i = 0; i < n; i++) counter_add(c, steps[i]);
    int32_t value = counter_get(c);
    counter_drop(h); /* runs counter_dtor */
    free_buf(steps, n);
    int32_t *r = (int32_t *)RET;
    r[0] = value;
    r[1] = (int32_t)DESTROYED;
    return RET;
}
