/* cabi_realloc for wasi-libc commands that become components through the preview1 adapter.
 *
 * The adapter allocates its state through the main module's `cabi_realloc` export. Debian's
 * wasi-libc (2022) does not export one, and then wit-component gives the adapter an allocator
 * built on memory.grow, which hands out pages that libc's malloc (sbrk on the same memory)
 * also believes it owns: a program that allocates heavily (SQLite) then overwrites the
 * adapter's descriptor table. Exporting this function makes the adapter allocate with
 * malloc like everything else. Newer wasi-libc releases export an equivalent function.
 */
#include <stdlib.h>

__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size,
                                                                 size_t align, size_t new_size) {
    (void)old_size;
    if (new_size == 0) return (void *)align;
    /* malloc's alignment (16) covers every canonical ABI alignment (at most 8). */
    void *p = realloc(ptr, new_size);
    if (!p) abort();
    return p;
}
