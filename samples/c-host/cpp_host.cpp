// cpp_host.cpp: a C++ host for kiln components through `kiln bindgen c` headers (they are C
// headers usable from C++: `extern "C"`, static_assert/alignof, nullptr and static_cast in
// their inline functions).
//
// Usage: cpp_host CALLS.so HOST_IMPORTS.so
//   CALLS.so         tests/components/calls.wat compiled by kiln (header: calls.h)
//   HOST_IMPORTS.so  tests/components/host_imports.wat compiled by kiln (header: hi.h)
//
// Calls typed exports, implements the imports of hi.h as C++ functions with a C++ object as
// their environment, and prints one line per check.
#include <cstdio>
#include <string>

#include "calls.h"
#include "hi.h"

namespace {

// The host's state: what the guest logged, how often the host was called.
struct Host {
  std::string log;
  int calls = 0;
};

// Throws nothing across the C boundary: errors are kiln_error_t values.
bool ok(kiln_error_t *err, const char *what) {
  if (err == nullptr)
    return true;
  std::printf("%s: %s\n", what, kiln_error_message(err));
  kiln_error_delete(err);
  return false;
}

std::string text(kiln_string_t s) { return std::string(s.ptr, s.len); }

kiln_string_t view(const std::string &s) { return kiln_string_t{s.data(), s.size()}; }

}  // namespace

// The imports of hi.h (declared extern "C" by the header).
kiln_error_t *hi_host_log_log(void *env, const kiln_component_instance_t *, kiln_string_t msg) {
  static_cast<Host *>(env)->log = text(msg);
  return nullptr;
}

kiln_error_t *hi_host_greet_host(void *env, const kiln_component_instance_t *instance,
                                 kiln_string_t name, kiln_string_t *ret) {
  Host *host = static_cast<Host *>(env);
  host->calls++;
  std::string greeting = "Hello, " + text(name) + (instance ? "!" : "?");
  char *buf = static_cast<char *>(kiln_component_host_alloc(greeting.size()));
  if (buf == nullptr)
    return kiln_error_new(KILN_ERROR_OTHER, "no host memory");
  greeting.copy(buf, greeting.size());
  *ret = kiln_string_t{buf, greeting.size()};
  return nullptr;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CALLS.so HOST_IMPORTS.so\n", argv[0]);
    return 2;
  }
  kiln_engine_t *engine = kiln_engine_new(nullptr);
  kiln_component_t *calls = nullptr, *hi = nullptr;
  kiln_component_linker_t *linker = nullptr;
  kiln_component_instance_t *calls_inst = nullptr, *hi_inst = nullptr;
  Host host;
  if (!ok(kiln_component_load(engine, argv[1], &calls), "load calls") ||
      !ok(kiln_component_load(engine, argv[2], &hi), "load hi") ||
      !ok(kiln_component_linker_new(engine, &linker), "linker") ||
      !ok(kiln_component_linker_instantiate(linker, calls, &calls_inst), "instantiate calls") ||
      !ok(hi_link_imports(linker, &host), "link imports") ||
      !ok(kiln_component_linker_instantiate(linker, hi, &hi_inst), "instantiate hi"))
    return 1;

  calls_exports_t c;
  if (!ok(calls_exports_init(&c, calls_inst), "calls exports"))
    return 1;
  std::string word = "grüße";
  kiln_string_t echoed;
  if (ok(calls_echo_string(&c, view(word), &echoed), "echo-string")) {
    std::printf("echo-string: %s\n", text(echoed).c_str());
    ok(calls_echo_string_post_return(&c), "post-return");
  }
  calls_rec_t rec = {7, view(word), 0x1F600}, rec_out;
  if (ok(calls_echo_rec(&c, rec, &rec_out), "echo-rec")) {
    std::printf("echo-rec: %u %s U+%X\n", rec_out.a, text(rec_out.b).c_str(), rec_out.c);
    ok(calls_echo_rec_post_return(&c), "post-return");
  }
  // A mistake in an argument is an error, and the instance stays usable.
  kiln_string_t bad = {nullptr, 3};
  ok(calls_echo_string(&c, bad, &echoed), "NULL string");
  std::printf("poisoned: %d\n", kiln_component_instance_is_poisoned(calls_inst) ? 1 : 0);
  calls_exports_delete(&c);

  hi_exports_t h;
  if (!ok(hi_exports_init(&h, hi_inst), "hi exports"))
    return 1;
  kiln_string_t greeting;
  if (ok(hi_greet(&h, view("C++"), &greeting), "greet")) {
    std::printf("greet: %s (log: %s, host calls %d)\n", text(greeting).c_str(),
                host.log.c_str(), host.calls);
    ok(hi_greet_post_return(&h), "post-return");
  }
  hi_exports_delete(&h);

  kiln_component_instance_delete(calls_inst);
  kiln_component_instance_delete(hi_inst);
  kiln_component_linker_delete(linker);
  kiln_component_delete(calls);
  kiln_component_delete(hi);
  kiln_engine_delete(engine);
  return 0;
}
