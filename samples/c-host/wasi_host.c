/*
 * A C host that runs a WASI 0.2 command component compiled by kiln:
 *
 *     wasi_host COMMAND.so [--dir HOST::GUEST] [--capture] [ARGS...]
 *
 * loads the component, gives it WASI (arguments = the component path and ARGS, the
 * environment variable GREETING=hello, an optional preopened directory), runs
 * `wasi:cli/run`, and exits with the guest's status. With --capture the guest's stdout goes
 * to a buffer that the host prints afterwards between `[captured]` markers; otherwise the guest
 * writes to the host's stdout directly.
 */
#include <kiln.h>
#include <stdio.h>
#include <string.h>

static int fail(kiln_error_t *e, const char *what) {
    fprintf(stderr, "%s: %s\n", what, kiln_error_message(e));
    kiln_error_delete(e);
    return 70;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND.so [--dir HOST::GUEST] [--capture] [ARGS...]\n", argv[0]);
        return 64;
    }
    const char *path = argv[1];
    int i = 2;
    const char *dir = NULL;
    int capture = 0;
    while (i < argc) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--capture") == 0) {
            capture = 1;
            i += 1;
        } else {
            break;
        }
    }

    kiln_engine_t *engine = kiln_engine_new(NULL);
    kiln_error_t *e;
    kiln_component_t *component;
    if ((e = kiln_component_load(engine, path, &component))) return fail(e, "load");
    kiln_component_linker_t *linker;
    if ((e = kiln_component_linker_new(engine, &linker))) return fail(e, "linker");

    kiln_wasi_config_t *cfg = kiln_wasi_config_new();
    /* The guest's arguments: the component path, then what follows the options. */
    const char *args[64];
    size_t nargs = 0;
    args[nargs++] = path;
    for (; i < argc && nargs < 64; i++) args[nargs++] = argv[i];
    if ((e = kiln_wasi_config_set_args(cfg, args, nargs))) return fail(e, "args");
    if ((e = kiln_wasi_config_add_env(cfg, "GREETING", "hello"))) return fail(e, "env");
    kiln_wasi_config_inherit_stdio(cfg);
    kiln_wasi_buffer_t *out = NULL;
    if (capture && (e = kiln_wasi_config_set_output_buffer(cfg, 1, &out)))
        return fail(e, "stdout buffer");
    if (dir) {
        char host[4096];
        const char *sep = strstr(dir, "::");
        if (!sep || (size_t)(sep - dir) >= sizeof host) {
            fprintf(stderr, "--dir wants HOST::GUEST\n");
            return 64;
        }
        memcpy(host, dir, (size_t)(sep - dir));
        host[sep - dir] = 0;
        if ((e = kiln_wasi_config_preopen_dir(cfg, host, sep + 2, false)))
            return fail(e, "preopen");
    }
    if ((e = kiln_component_linker_add_wasi(linker, cfg))) return fail(e, "add wasi");

    kiln_component_instance_t *instance;
    if ((e = kiln_component_linker_instantiate(linker, component, &instance)))
        return fail(e, "instantiate");
    int status = 0;
    if ((e = kiln_wasi_run_command(instance, &status))) return fail(e, "run");
    if (out) {
        size_t len = 0;
        const uint8_t *data = kiln_wasi_buffer_data(out, &len);
        printf("[captured %zu bytes]", len);
        fwrite(data, 1, len, stdout);
        printf("[end]\n");
        kiln_wasi_buffer_delete(out);
    }
    kiln_component_instance_delete(instance);
    kiln_component_linker_delete(linker);
    kiln_component_delete(component);
    kiln_engine_delete(engine);
    return status;
}
