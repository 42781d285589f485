/*
 * A C host that runs a WASI 0.3 command (its `run` is an `async` function) with its own event
 * loop, through the non-blocking call API:
 *
 *     async_host COMMAND.so [ARGS...]
 *
 * The call is started with kiln_component_func_call_async(); while it is unfinished, the loop
 * waits in poll(2) on a pipe that kiln's wake callback writes to (host work arrived, e.g.
 * stdin data) with the timeout of the next host timer (a guest in `wait-for`), then calls
 * kiln_component_async_call_poll(). A host with other work would watch its own descriptors in
 * the same poll(2). At the end the host prints, on stderr, how many times it polled and slept.
 */
#include <kiln.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(kiln_error_t *e, const char *what) {
    fprintf(stderr, "%s: %s\n", what, kiln_error_message(e));
    kiln_error_delete(e);
    return 70;
}

/* Called by kiln, from any thread, when host work for the instance arrives. */
static void wake(void *data) {
    int fd = *(int *)data;
    char b = 1;
    ssize_t n = write(fd, &b, 1); /* a full pipe already means "wake up" */
    (void)n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND.so [ARGS...]\n", argv[0]);
        return 64;
    }
    kiln_engine_t *engine = kiln_engine_new(NULL);
    kiln_error_t *e;
    kiln_component_t *component;
    if ((e = kiln_component_load(engine, argv[1], &component))) return fail(e, "load");
    kiln_component_linker_t *linker;
    if ((e = kiln_component_linker_new(engine, &linker))) return fail(e, "linker");
    kiln_wasi_config_t *cfg = kiln_wasi_config_new();
    if ((e = kiln_wasi_config_set_args(cfg, (const char *const *)argv + 1, (size_t)argc - 1)))
        return fail(e, "args");
    kiln_wasi_config_inherit_stdio(cfg);
    if ((e = kiln_component_linker_add_wasi(linker, cfg))) return fail(e, "add wasi");
    kiln_component_instance_t *instance;
    if ((e = kiln_component_linker_instantiate(linker, component, &instance)))
        return fail(e, "instantiate");
    kiln_component_func_t *run;
    if ((e = kiln_component_instance_get_func(instance, "wasi:cli/run@0.3.0#run", &run)))
        return fail(e, "get run");

    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 71;
    }
    kiln_component_async_call_t *call;
    if ((e = kiln_component_func_call_async(run, NULL, 0, &call))) return fail(e, "start");
    if ((e = kiln_component_async_call_set_wake(call, wake, &fds[1]))) return fail(e, "wake");

    kiln_cval_t result;
    bool done = false;
    unsigned polls = 0, sleeps = 0;
    for (;;) {
        polls++;
        if ((e = kiln_component_async_call_poll(call, &done, &result))) {
            int32_t status;
            if (!kiln_error_exit_status(e, &status)) return fail(e, "poll");
            /* The guest called `wasi:cli/exit`: that is its status. */
            kiln_error_delete(e);
            fprintf(stderr, "[async_host: exit %d after %u polls]\n", (int)status, polls);
            return (int)status;
        }
        if (done) break;
        int64_t ns = kiln_component_async_call_next_deadline_ns(call);
        int timeout = ns < 0 ? 1000 : (int)((ns + 999999) / 1000000);
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        sleeps++;
        if (poll(&p, 1, timeout) > 0) {
            char buf[64];
            ssize_t n = read(fds[0], buf, sizeof buf);
            (void)n;
        } else if (errno == EINTR) {
            continue;
        }
    }
    /* `run` returns result<_, _>: a variant whose tag 0 is `ok`. */
    int status = result.kind == KILN_CVAL_RESULT && result.of.variant.tag == 0 ? 0 : 1;
    kiln_cval_delete(&result);
    fprintf(stderr, "[async_host: %u polls, %u waits]\n", polls, sleeps);
    kiln_component_async_call_delete(call);
    kiln_component_func_delete(run);
    kiln_component_instance_delete(instance);
    kiln_component_linker_delete(linker);
    kiln_component_delete(component);
    kiln_engine_delete(engine);
    close(fds[0]);
    close(fds[1]);
    return status;
}
