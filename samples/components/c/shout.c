/*
 * The `shout` world of wit/inventory.wit, by hand against the canonical ABI with strings in
 * UTF-16 (the component is encoded with `kiln-componentize embed --encoding utf16`): a string
 * arrives as (pointer, length in code units) of 2-byte-aligned UTF-16, and a result string is
 * returned the same way; the host transcodes from and to its UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("cabi_realloc")
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    if (new_size == 0) return (void *)align;
    void *p = realloc(old, new_size);
    if (!p) abort();
    return p;
}

static _Alignas(8) uint32_t RET[2];

/* shout: func(s: string) -> string */
EXPORT("shout")
uint32_t *shout(uint16_t *s, uint32_t len) {
    uint16_t *out = malloc((len + 1) * 2);
    for (uint32_t i = 0; i < len; i++) {
        uint16_t u = s[i];
        out[i] = (u >= 'a' && u <= 'z') ? (uint16_t)(u - 32) : u;
    }
    out[len] = '!';
    if (len) free(s);
    RET[0] = (uint32_t)(uintptr_t)out;
    RET[1] = len + 1;
    return RET;
}

EXPORT("cabi_post_shout")
void shout_post(uint32_t *ret) { free((void *)(uintptr_t)ret[0]); }

/* count-units: func(s: string) -> u32 */
EXPORT("count-units")
uint32_t count_units(uint16_t *s, uint32_t len) {
    if (len) free(s);
    return len;
}
