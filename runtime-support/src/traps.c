/*
 * traps.c — the setjmp side of kiln's trap unwinding.
 *
 * Rust cannot call setjmp (a function that returns twice is outside its model), so the runtime's
 * entry point calls kiln_call_catching(), which sets a jump buffer, publishes its address through
 * `slot`, and calls `body(data)`. When guest code traps (signal handler, builtin, or host function
 * error), the runtime calls kiln_unwind() with the published buffer, which returns from
 * kiln_call_catching() with 1. Every frame skipped by the jump is either compiled guest code or a
 * runtime frame that has already dropped all its Rust values.
 *
 * sigsetjmp(buf, 0) does not save the signal mask (a syscall per call would be costly); the
 * signal handler unblocks the signal it is handling itself before it jumps.
 */
#include <setjmp.h>

typedef void (*kiln_body_fn)(void *data);

int kiln_call_catching(kiln_body_fn body, void *data, void **slot) {
    sigjmp_buf buf;
    *slot = (void *)&buf;
    if (sigsetjmp(buf, 0) == 0) {
        body(data);
        return 0;
    }
    return 1;
}

void kiln_unwind(void *buf) {
    siglongjmp(*(sigjmp_buf *)buf, 1);
}
