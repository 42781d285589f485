/*
 * sampling_host.c: a C host that profiles guest code the way in-process samplers do.
 *
 * Loads a kiln module, then calls EXPORT(ARG) (one i32 parameter, one i32 result) under a
 * 1 ms ITIMER_PROF whose SIGPROF handler takes a glibc backtrace() of the interrupted thread.
 * Afterwards it counts the samples that caught guest code (a frame inside MODULE.so) and how
 * many of those unwound through the guest frames back into the host (a frame in call_guest):
 * this needs the module's .eh_frame_hdr, which libgcc's unwinder finds via dl_iterate_phdr.
 *
 *   ./sampling_host plugin.so spin 3000   # prints: result R / samples N guest G host H
 *
 * tests/tests/debugger_production.rs builds and runs it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "kiln.h"

#define MAX_SAMPLES 4096
#define DEPTH 64

static void *frames[MAX_SAMPLES][DEPTH];
static int depths[MAX_SAMPLES];
static volatile sig_atomic_t nsamples;

static void on_prof(int sig) {
  (void)sig;
  int i = nsamples;
  if (i >= MAX_SAMPLES) return;
  depths[i] = backtrace(frames[i], DEPTH);
  nsamples = i + 1;
}

/* The host frame every sample of guest code must unwind to (exported: link with -rdynamic,
 * so dladdr names it). */
kiln_error_t *call_guest(kiln_func_t *func, kiln_val_t *arg, kiln_val_t *result);
__attribute__((noinline)) kiln_error_t *call_guest(kiln_func_t *func, kiln_val_t *arg,
                                                  kiln_val_t *result) {
  kiln_error_t *err = kiln_func_call(func, arg, 1, result, 1);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
  return err;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODULE.so EXPORT ARG\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_module_t *module = NULL;
  kiln_linker_t *linker = NULL;
  kiln_instance_t *instance = NULL;
  kiln_func_t *func = NULL;
  kiln_error_t *err;
  if (!engine) return 1;
  if ((err = kiln_module_load(engine, argv[1], &module)) ||
      (err = kiln_linker_new(engine, &linker)) ||
      (err = kiln_linker_instantiate(linker, module, &instance)) ||
      (err = kiln_instance_get_func(instance, argv[2], &func))) {
    fprintf(stderr, "error: %s\n", kiln_error_display(err));
    return 1;
  }
  kiln_val_t arg = {.kind = KILN_I32, .of.i32 = atoi(argv[3])};
  kiln_val_t result = {0};

  void *warm[4];
  backtrace(warm, 4); /* loads libgcc_s outside the handler */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prof;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval every_ms = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_PROF, &every_ms, NULL);
  err = call_guest(func, &arg, &result);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  if (err) {
    fprintf(stderr, "error: %s\n", kiln_error_display(err));
    return 1;
  }

  const char *module_name = base_name(argv[1]);
  int guest = 0, host = 0;
  for (int s = 0; s < nsamples; s++) {
    int in_guest = 0, reached = 0;
    for (int f = 0; f < depths[s]; f++) {
      Dl_info info;
      if (!dladdr(frames[s][f], &info)) continue;
      if (info.dli_fname && strcmp(base_name(info.dli_fname), module_name) == 0) in_guest = 1;
      else if (in_guest && info.dli_saddr == (void *)call_guest) reached = 1;
    }
    guest += in_guest;
    host += reached;
  }
  printf("result %d\nsamples %d guest %d host %d\n", (int)result.of.i32, (int)nsamples, guest,
         host);
  kiln_func_delete(func);
  kiln_instance_delete(instance);
  kiln_linker_delete(linker);
  kiln_module_delete(module);
  kiln_engine_delete(engine);
  return 0;
}
