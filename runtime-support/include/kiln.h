/*
 * kiln.h: the C API of the kiln runtime (libkiln_runtime.so / libkiln_runtime.a).
 *
 * Loads WebAssembly modules compiled ahead of time by kiln into shared objects, instantiates
 * them and calls them. Wraps the Rust API of the `kiln-runtime` crate (docs/runtime-api.md)
 * one to one.
 *
 * Conventions
 * - Every object is an opaque handle created by a `*_new`/`*_load`/getter function and freed
 *   by its `*_delete` function (which accepts NULL). Handles are reference counted internally:
 *   deleting a handle never invalidates other handles (e.g. a function obtained from an instance
 *   stays callable after the instance handle is deleted).
 * - Fallible functions return a `kiln_error_t*`: NULL on success, otherwise an error the caller
 *   owns and frees with kiln_error_delete(). Their results go to out-parameters, which are set
 *   to NULL/zero first. A NULL required pointer gives an error (kind KILN_ERROR_OTHER), never
 *   a crash. Simple accessors return 0/NULL/false for a NULL handle.
 * - Strings passed in are NUL-terminated UTF-8. Strings returned are owned by the object they
 *   come from and live as long as it.
 * - No function unwinds into C: an internal panic becomes an error of kind KILN_ERROR_OTHER.
 * - This header and the headers `kiln bindgen c` writes compile as C99, C11 and C++11 without
 *   a diagnostic under gcc -pedantic -Wall -Wextra and clang -Weverything, except -Wpadded
 *   (the C layouts have padding by design) and, in C++, -Wc++98-compat (they need C++11).
 * - Guest traps (out-of-bounds access, division by zero, unreachable, stack overflow, epoch
 *   interrupt...) are caught by the runtime's signal handlers and come back as errors of kind
 *   KILN_ERROR_TRAP; the process keeps running.
 * - Signals. The first kiln_engine_new() installs handlers (once per process, SA_SIGINFO |
 *   SA_ONSTACK) for SIGSEGV, SIGBUS, SIGILL and SIGFPE, remembering the handlers installed
 *   before. A signal raised by guest code becomes a trap; any other is passed on to the earlier
 *   handler with the same arguments (if that was SIG_DFL or SIG_IGN, the default action is
 *   restored and the fault, re-executed, ends the process as it would without kiln). A host
 *   that installs its own handlers for these signals afterwards must chain to the ones it
 *   replaces, or guest traps crash the process. Each thread that calls into guest code gets a
 *   64 KiB alternate signal stack (sigaltstack, with a guard page; freed when the thread exits)
 *   unless it already has one at least that large, so a guest stack overflow can be handled.
 *   No other signal disposition changes; WASI writes to a closed pipe block SIGPIPE in the
 *   writing thread for the write (EPIPE, never a SIGPIPE delivered to the host).
 * - Handles may be shared between threads (the runtime is Send + Sync), except that a linker
 *   must not be modified while it is used elsewhere; host callbacks run on whichever thread
 *   called into wasm, so their `env` must tolerate that. Every instance belongs to a store
 *   (the instances linked together, a component's core instances), which runs guest code on
 *   one thread at a time: a call from another thread while it runs fails with
 *   KILN_ERROR_BUSY and changes nothing (see docs/runtime-api.md, "Threads, stores and
 *   limits"); memories, tables and globals may be read and written from any thread.
 * - A kiln `.so` is native code. Loading one (kiln_module_load(), kiln_component_load()) first
 *   checks the file as bytes — it must be exactly what kiln emits (no constructors, library
 *   dependencies, IFUNC resolvers or TLS; every range inside the file), carry the checksum
 *   kiln recorded, fit this runtime and CPU, and, with kiln_engine_config_t::trusted_keys, be
 *   signed by a trusted key — and only then dlopen()s exactly those bytes. A file that fails
 *   gives a KILN_ERROR_LOAD error and nothing from it has run. A file that passes is trusted
 *   code: the checks make loading safe, not the code; a signature says who vouches for it.
 *   docs/trust-model.md says precisely what each check guarantees.
 *
 * Linking: `cc host.c -I runtime-support/include -L $TARGET/debug -lkiln_runtime
 *           -Wl,-rpath,$TARGET/debug` (shared), or
 *          `cc host.c -I runtime-support/include $TARGET/debug/libkiln_runtime.a
 *           -lpthread -ldl -lm` (static).
 * Installed (`scripts/install-runtime --prefix DIR`: libkiln_runtime.so.N with SONAME
 *          libkiln_runtime.so.N for N = KILN_ABI_VERSION, libkiln_runtime.a, kiln.h, and
 *          pkg-config's kiln.pc): `cc host.c $(pkg-config --cflags --libs kiln)`.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versions                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/**
 * The version of the C interface this header describes: bumped on every incompatible change
 * to a declaration in kiln.h (the number in the shared library's SONAME,
 * libkiln_runtime.so.KILN_ABI_VERSION). Unrelated to the version of compiled `.so` artifacts.
 */
#define KILN_ABI_VERSION 0

/** The C interface version of the linked runtime: compare with KILN_ABI_VERSION at start-up. */
uint32_t kiln_abi_version(void);
/** The runtime's release version ("0.1.0"), a static string. */
const char *kiln_version(void);

/* ---------------------------------------------------------------------------------------- */
/* Handles                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** Process-wide runtime state: epoch counter, signature interning, configuration. */
typedef struct kiln_engine kiln_engine_t;
/** A loaded kiln `.so` (a compiled WebAssembly module). */
typedef struct kiln_module kiln_module_t;
/** An instance of a module. */
typedef struct kiln_instance kiln_instance_t;
/** Resolves imports by (module, name) and instantiates modules. */
typedef struct kiln_linker kiln_linker_t;
/** A module with its imports resolved and checked by a linker, ready to instantiate. */
typedef struct kiln_instance_pre kiln_instance_pre_t;
/** A function: a guest export or a host function. */
typedef struct kiln_func kiln_func_t;
/** A linear memory. */
typedef struct kiln_memory kiln_memory_t;
/** A global. */
typedef struct kiln_global kiln_global_t;
/** A table. */
typedef struct kiln_table kiln_table_t;
/** Any importable/exportable item: a function, table, memory or global. */
typedef struct kiln_extern kiln_extern_t;
/** An error: load, link, trap or other. */
typedef struct kiln_error kiln_error_t;
/** A guest trap: kind, message and backtrace. */
typedef struct kiln_trap kiln_trap_t;
/** The instance calling a host function (valid only during that callback). */
typedef struct kiln_caller kiln_caller_t;

/* ---------------------------------------------------------------------------------------- */
/* Enumerations                                                                              */
/* ---------------------------------------------------------------------------------------- */

/** A value type (the tag of kiln_val_t). */
typedef uint8_t kiln_valkind_t;
enum kiln_valkind_enum {
  KILN_I32 = 0,       /**< i32 */
  KILN_I64 = 1,       /**< i64 */
  KILN_F32 = 2,       /**< f32 */
  KILN_F64 = 3,       /**< f64 */
  KILN_V128 = 4,      /**< v128 */
  KILN_FUNCREF = 5,   /**< funcref (nullable) */
  KILN_EXTERNREF = 6, /**< externref (nullable) */
  KILN_EXNREF = 7,    /**< exnref: always null on the host side (stored in `externref`, 0) */
};
/** Returned by type accessors for an invalid handle or index. */
#define KILN_VALKIND_INVALID ((kiln_valkind_t)0xFF)

/** The kind of an import, export or kiln_extern_t. */
typedef uint8_t kiln_externkind_t;
enum kiln_externkind_enum {
  KILN_EXTERN_FUNC = 0,   /**< a function */
  KILN_EXTERN_TABLE = 1,  /**< a table */
  KILN_EXTERN_MEMORY = 2, /**< a memory */
  KILN_EXTERN_GLOBAL = 3, /**< a global */
  KILN_EXTERN_TAG = 4,    /**< a tag (exception handling) */
};

/** The kind of an error. */
typedef uint8_t kiln_error_kind_t;
enum kiln_error_kind_enum {
  KILN_ERROR_LOAD = 0,  /**< refused before running anything: not exactly a kiln .so, checksum,
                           version/target/CPU features, missing or invalid signature, metadata */
  KILN_ERROR_LINK = 1,  /**< unknown import or incompatible import type ("unlinkable") */
  KILN_ERROR_TRAP = 2,  /**< a guest trap: see kiln_error_trap() */
  KILN_ERROR_OTHER = 3, /**< anything else: argument type mismatch, NULL argument, ... */
  KILN_ERROR_BUSY = 4,  /**< the instance's store is running on another thread (a store — the
                           instances linked together — runs one thread at a time); retry later */
};

/** Why the guest trapped (same order as kiln_environ::TrapKind). */
typedef uint8_t kiln_trap_kind_t;
enum kiln_trap_kind_enum {
  KILN_TRAP_STACK_OVERFLOW = 0,            /**< "call stack exhausted" */
  KILN_TRAP_MEMORY_OUT_OF_BOUNDS = 1,      /**< "out of bounds memory access" */
  KILN_TRAP_TABLE_INDEX_OUT_OF_BOUNDS = 2, /**< "undefined element" */
  KILN_TRAP_TABLE_OUT_OF_BOUNDS = 3,       /**< "out of bounds table access" */
  KILN_TRAP_INDIRECT_CALL_TO_NULL = 4,     /**< "uninitialized element" */
  KILN_TRAP_BAD_SIGNATURE = 5,             /**< "indirect call type mismatch" */
  KILN_TRAP_INTEGER_OVERFLOW = 6,          /**< "integer overflow" */
  KILN_TRAP_INTEGER_DIVISION_BY_ZERO = 7,  /**< "integer divide by zero" */
  KILN_TRAP_BAD_CONVERSION_TO_INTEGER = 8, /**< "invalid conversion to integer" */
  KILN_TRAP_UNREACHABLE = 9,               /**< "wasm `unreachable` instruction executed" */
  KILN_TRAP_INTERRUPT = 10,                /**< "interrupted" (epoch deadline) */
  KILN_TRAP_HOST_ERROR = 11,               /**< "host function error" */
  KILN_TRAP_NULL_REFERENCE = 12,           /**< "null reference" */
  KILN_TRAP_CANONICAL_ABI = 13,            /**< "canonical ABI violation": a component broke a
                                                canonical-ABI rule (bad pointer, encoding, handle,
                                                reentrance); the message names the rule */
  KILN_TRAP_UNCAUGHT_EXCEPTION = 14,       /**< "uncaught exception" (a wasm exception) */
  KILN_TRAP_EXCEPTION_LIMIT = 15,          /**< "too many live exception objects" */
};

/* ---------------------------------------------------------------------------------------- */
/* Values                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/**
 * A WebAssembly value: a tag and a payload.
 *
 * - f32/f64 are carried bit-exactly (NaN payloads are preserved).
 * - v128 is 16 bytes, little-endian (byte 0 is lane 0 of i8x16).
 * - funcref: a function handle, NULL for the null reference. Ownership: values passed *into*
 *   kiln are borrowed; values kiln writes *out* (call results, global/table reads, host
 *   callback arguments) hold a new handle the receiver owns and frees with kiln_val_delete()
 *   (host callback arguments are the exception: they are borrowed for the callback's duration).
 * - externref: 0 is the null reference; any other value n is a host handle (the Rust API's
 *   `Val::ExternRef(Some(n - 1))`, i.e. the raw encoding guests see).
 */
typedef struct kiln_val {
  kiln_valkind_t kind; /**< which member of `of` is valid */
  union {
    int32_t i32;          /**< KILN_I32 */
    int64_t i64;          /**< KILN_I64 */
    float f32;            /**< KILN_F32 */
    double f64;           /**< KILN_F64 */
    uint8_t v128[16];     /**< KILN_V128 */
    kiln_func_t *funcref; /**< KILN_FUNCREF (NULL = null reference) */
    uint64_t externref;   /**< KILN_EXTERNREF (0 = null reference) */
  } of;
} kiln_val_t;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#if defined(__cplusplus)
static_assert(sizeof(kiln_val_t) == 24, "kiln_val_t layout");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(kiln_val_t) == 24, "kiln_val_t layout");
#else
typedef char kiln_val_t_layout_check[sizeof(kiln_val_t) == 24 ? 1 : -1]; /* C99 */
#endif
#endif

/** Frees the function handle a KILN_FUNCREF value owns (and sets it to NULL); no-op otherwise. */
void kiln_val_delete(kiln_val_t *val);

/* ---------------------------------------------------------------------------------------- */
/* Errors and traps                                                                          */
/* ---------------------------------------------------------------------------------------- */

/**
 * Creates an error (for host callbacks to return). KILN_ERROR_TRAP gives a trap of kind
 * KILN_TRAP_HOST_ERROR with `message`. NULL `message` means "". Never returns NULL.
 */
kiln_error_t *kiln_error_new(kiln_error_kind_t kind, const char *message);
/** Frees an error (NULL is a no-op). */
void kiln_error_delete(kiln_error_t *error);
/** The error's kind (KILN_ERROR_OTHER for NULL). */
kiln_error_kind_t kiln_error_kind(const kiln_error_t *error);
/**
 * Whether the error is a guest's WASI `exit` (a trap that ends the program with a status);
 * then `*status` (may be NULL) receives the status.
 */
bool kiln_error_exit_status(const kiln_error_t *error, int32_t *status);
/** The bare message (for traps, the trap message, e.g. "integer divide by zero"). */
const char *kiln_error_message(const kiln_error_t *error);
/**
 * The full text as the Rust API displays it: "cannot load module: ...", "cannot link module:
 * ...", or for traps the message followed by a line "wasm backtrace:" and one line per
 * frame.
 */
const char *kiln_error_display(const kiln_error_t *error);
/** The trap inside a KILN_ERROR_TRAP error (borrowed: lives as long as `error`), else NULL. */
const kiln_trap_t *kiln_error_trap(const kiln_error_t *error);

/** One frame of a trap backtrace (strings borrowed from the trap). */
typedef struct kiln_frame {
  uint32_t func_index;     /**< index in the module's function index space (imports first) */
  const char *func_name;   /**< name from the name section, or NULL */
  const char *module_name; /**< module name from the name section, or NULL */
  bool has_wasm_offset;    /**< whether wasm_offset is known */
  uint32_t wasm_offset;    /**< byte offset of the trapping instruction in the wasm binary */
} kiln_frame_t;

/** Copies a trap (to keep it after its error is deleted); NULL for NULL. */
kiln_trap_t *kiln_trap_clone(const kiln_trap_t *trap);
/** Frees a trap obtained from kiln_trap_clone() (NULL is a no-op). */
void kiln_trap_delete(kiln_trap_t *trap);
/** The trap's kind (KILN_TRAP_HOST_ERROR for NULL). */
kiln_trap_kind_t kiln_trap_kind(const kiln_trap_t *trap);
/** The trap's message ("" for NULL). */
const char *kiln_trap_message(const kiln_trap_t *trap);
/** Number of backtrace frames (innermost first). */
size_t kiln_trap_frame_count(const kiln_trap_t *trap);
/** Fills `*out` with frame `index`; false if out of range or NULL arguments. */
bool kiln_trap_frame(const kiln_trap_t *trap, size_t index, kiln_frame_t *out);
/**
 * The source file and line of frame `index`, known for modules compiled with debug info
 * (`kiln compile -g`; for a `.wat` input the file is the listing kiln writes next to the
 * `.so`). On success `*file` (borrowed from the trap) and `*line` (from 1) are set and true is
 * returned; otherwise they are set to NULL and 0 and false is returned. Either may be NULL.
 */
bool kiln_trap_frame_source(const kiln_trap_t *trap, size_t index, const char **file,
                            uint32_t *line);
/** The standard message of a trap kind ("unreachable", ...), or NULL for an unknown kind. */
const char *kiln_trap_kind_message(kiln_trap_kind_t kind);

/* ---------------------------------------------------------------------------------------- */
/* Engine                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/** Public keys trusted to sign kiln artifacts (see "Artifact signatures" below). */
typedef struct kiln_trusted_keys kiln_trusted_keys_t;

/** Engine configuration. */
typedef struct kiln_engine_config {
  /** Bytes of native stack guest code may use below the outermost entry (0: default 512 KiB). */
  size_t max_wasm_stack;
  /**
   * NULL (the default): no signature required. Otherwise every module and component loaded
   * into the engine must have a detached signature `<file>.sig` (kiln sign,
   * kiln_artifact_sign()) by one of these keys, checked before anything from the file is
   * mapped; the engine keeps its own copy of the keys.
   */
  const kiln_trusted_keys_t *trusted_keys;
  /**
   * false (the default): map an artifact's file directly (its code pages shared between
   * processes) when only this user or root can write it, else a sealed private copy (memfd).
   * true: always load a sealed private copy.
   */
  bool always_copy;
} kiln_engine_config_t;

/** Fills `*config` with the defaults. */
void kiln_engine_config_default(kiln_engine_config_t *config);
/**
 * Creates an engine (installing the runtime's signal handlers on first use). NULL `config`
 * means defaults. Returns NULL only on an internal failure.
 */
kiln_engine_t *kiln_engine_new(const kiln_engine_config_t *config);
/** Frees an engine handle (modules and instances keep the engine alive). */
void kiln_engine_delete(kiln_engine_t *engine);
/** Advances the engine's epoch by one; safe from any thread (e.g. a timer). */
void kiln_engine_increment_epoch(const kiln_engine_t *engine);
/** The engine's current epoch (0 for NULL). */
uint64_t kiln_engine_epoch(const kiln_engine_t *engine);

/* ---------------------------------------------------------------------------------------- */
/* Artifact signatures                                                                       */
/* ---------------------------------------------------------------------------------------- */
/*
 * Ed25519 keys are text files: `kiln keygen -o KEY` writes the secret key KEY and the public
 * key KEY.pub. A signature is a detached text file, `<artifact>.sig` by default, over the
 * SHA-256 digest of every byte of the artifact. An engine whose configuration names trusted
 * keys refuses artifacts without a valid signature by one of them.
 */

/**
 * Reads a file of trusted public keys (one or more `kiln-ed25519-public-key` lines, `#`
 * comments and blank lines allowed; a `.pub` file from kiln keygen is one).
 */
kiln_error_t *kiln_trusted_keys_load(const char *path, kiln_trusted_keys_t **out);
/** Frees trusted keys (engines keep their own copy). */
void kiln_trusted_keys_delete(kiln_trusted_keys_t *keys);
/**
 * Checks the artifact at `artifact_path` as loading does before dlopen (structure and
 * checksum; any kiln target; nothing is mapped executable), signs it with the secret key file
 * `secret_key_path` and writes the signature to `signature_path` (NULL: `<artifact>.sig`).
 */
kiln_error_t *kiln_artifact_sign(const char *secret_key_path, const char *artifact_path,
                                 const char *signature_path);
/**
 * Checks the artifact at `artifact_path` without loading it: structure and checksum, and with
 * `keys` its signature `signature_path` (NULL: `<artifact>.sig`) by one of them. NULL `keys`
 * checks no signature (and `signature_path` must be NULL). A failed check is KILN_ERROR_LOAD.
 */
kiln_error_t *kiln_artifact_verify(const kiln_trusted_keys_t *keys, const char *artifact_path,
                                   const char *signature_path);

/* ---------------------------------------------------------------------------------------- */
/* Modules                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** An import of a module (strings borrowed from the module handle). */
typedef struct kiln_import {
  const char *module;     /**< module name */
  const char *name;       /**< field name */
  kiln_externkind_t kind; /**< what is imported */
} kiln_import_t;

/** An export of a module (name borrowed from the module handle). */
typedef struct kiln_export {
  const char *name;       /**< export name */
  kiln_externkind_t kind; /**< what is exported */
  uint32_t index;         /**< index in the module's index space of that kind */
} kiln_export_t;

/**
 * Loads a kiln-compiled module `.so`: checks the file before anything from it is mapped
 * (structure, checksum, ABI version, target and CPU features, signature when the engine
 * requires one, metadata), then dlopen()s exactly the bytes checked. Any file that is not a
 * kiln module fit for this host gives a KILN_ERROR_LOAD error naming the reason, and nothing
 * from it has run.
 */
kiln_error_t *kiln_module_load(const kiln_engine_t *engine, const char *path,
                               kiln_module_t **out);
/** Frees a module handle (instances keep their module loaded). */
void kiln_module_delete(kiln_module_t *module);
/** Number of imports. */
size_t kiln_module_import_count(const kiln_module_t *module);
/** Fills `*out` with import `index` (in import order); false if out of range or NULL. */
bool kiln_module_import(const kiln_module_t *module, size_t index, kiln_import_t *out);
/** Number of exports. */
size_t kiln_module_export_count(const kiln_module_t *module);
/** Fills `*out` with export `index`; false if out of range or NULL. */
bool kiln_module_export(const kiln_module_t *module, size_t index, kiln_export_t *out);

/* ---------------------------------------------------------------------------------------- */
/* Functions                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/**
 * A host function implemented in C. `args` has the declared parameter types; `results` has
 * `nresults` slots pre-filled with zero/null values of the declared result types, which the
 * callback overwrites (keeping each slot's kind). Funcref arguments are borrowed for the call
 * (kiln_func_clone() to keep one); funcref handles written to `results` pass to the runtime.
 * Returning NULL is success. Returning an error makes the calling guest trap: a trap error
 * (e.g. one returned by a nested kiln_func_call()) propagates unchanged; any other error
 * becomes a trap of kind KILN_TRAP_HOST_ERROR with the error's message. The runtime frees the
 * returned error.
 */
typedef kiln_error_t *(*kiln_host_callback_t)(void *env, const kiln_val_t *args, size_t nargs,
                                              kiln_val_t *results, size_t nresults);
/**
 * A host function that also receives its caller: the instance whose guest code called it (for
 * its memories and exports: kiln_caller_get_memory(), kiln_caller_get_export()). `caller` is
 * valid only until the callback returns. Everything else is as for kiln_host_callback_t.
 */
typedef kiln_error_t *(*kiln_host_callback_with_caller_t)(void *env, kiln_caller_t *caller,
                                                          const kiln_val_t *args, size_t nargs,
                                                          kiln_val_t *results, size_t nresults);
/** Called once with `env` when the host function is freed (after its last reference). */
typedef void (*kiln_finalizer_t)(void *env);

/**
 * Creates a host function of type (params) -> (results). `env` is passed to every call of
 * `callback`; `finalizer` (may be NULL) is called on `env` when the function is freed, or
 * right away if this call fails.
 */
kiln_error_t *kiln_func_new(const kiln_engine_t *engine, const kiln_valkind_t *params,
                            size_t nparams, const kiln_valkind_t *results, size_t nresults,
                            kiln_host_callback_t callback, void *env, kiln_finalizer_t finalizer,
                            kiln_func_t **out);
/** Like kiln_func_new(), with a callback that receives its caller. */
kiln_error_t *kiln_func_new_with_caller(const kiln_engine_t *engine, const kiln_valkind_t *params,
                                        size_t nparams, const kiln_valkind_t *results,
                                        size_t nresults,
                                        kiln_host_callback_with_caller_t callback, void *env,
                                        kiln_finalizer_t finalizer, kiln_func_t **out);
/**
 * Memory `index` (in the calling instance's memory index space, imports first) of a host
 * function's caller. Error if the function was called directly from C (no calling instance)
 * or there is no such memory.
 */
kiln_error_t *kiln_caller_get_memory(const kiln_caller_t *caller, uint32_t index,
                                     kiln_memory_t **out);
/** The export named `name` of a host function's calling instance. */
kiln_error_t *kiln_caller_get_export(const kiln_caller_t *caller, const char *name,
                                     kiln_extern_t **out);
/** Another handle to the same function; NULL for NULL. */
kiln_func_t *kiln_func_clone(const kiln_func_t *func);
/** Frees a function handle (NULL is a no-op). */
void kiln_func_delete(kiln_func_t *func);
/** Number of parameters. */
size_t kiln_func_param_count(const kiln_func_t *func);
/** Number of results. */
size_t kiln_func_result_count(const kiln_func_t *func);
/** Type of parameter `index`, or KILN_VALKIND_INVALID. */
kiln_valkind_t kiln_func_param_type(const kiln_func_t *func, size_t index);
/** Type of result `index`, or KILN_VALKIND_INVALID. */
kiln_valkind_t kiln_func_result_type(const kiln_func_t *func, size_t index);
/**
 * Calls a function. `args` must match the parameter types exactly and `nresults` must equal
 * the result count (else KILN_ERROR_OTHER). On success `results` receives the results (funcref
 * results are new handles: kiln_val_delete()). A guest trap gives a KILN_ERROR_TRAP error.
 */
kiln_error_t *kiln_func_call(const kiln_func_t *func, const kiln_val_t *args, size_t nargs,
                             kiln_val_t *results, size_t nresults);

/**
 * One raw value slot of kiln_func_call_raw(): 16 bytes, the value little-endian at offset 0.
 */
typedef union kiln_valraw {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
  uint8_t v128[16];
} kiln_valraw_t;

/**
 * Calls guest function `func` on raw value slots, for hosts that check the function's type
 * once (kiln_func_param_type(), kiln_func_result_type()) and then call it with no conversion
 * or allocation: the arguments in the first slots of `values`, overwritten by the results.
 * `nvalues` must be at least max(params, results). Only functions whose parameters and
 * results are all numbers or v128 are accepted (others: an error, nothing runs). A guest trap
 * gives a KILN_ERROR_TRAP error.
 */
kiln_error_t *kiln_func_call_raw(const kiln_func_t *func, kiln_valraw_t *values, size_t nvalues);

/* ---------------------------------------------------------------------------------------- */
/* Linker and instances                                                                      */
/* ---------------------------------------------------------------------------------------- */

/** Creates an empty linker. */
kiln_error_t *kiln_linker_new(const kiln_engine_t *engine, kiln_linker_t **out);
/** Frees a linker (definitions stay alive in the instances that use them). */
void kiln_linker_delete(kiln_linker_t *linker);
/**
 * Gives the store of every instance this linker creates an epoch deadline `ticks` after the
 * engine's epoch at instantiation, set before segments and the start function run.
 */
kiln_error_t *kiln_linker_set_epoch_deadline(kiln_linker_t *linker, uint64_t ticks);
/**
 * Limits the stores of the instances this linker creates (0: unlimited): the bytes of any one
 * linear memory, the elements of any one table, the instances in a store. Growth beyond a
 * limit fails as the guest expects (memory.grow and table.grow return -1); an instance beyond
 * the count, or one whose initial memories or tables exceed the limits, fails to instantiate.
 */
kiln_error_t *kiln_linker_set_limits(kiln_linker_t *linker, uint64_t memory_bytes,
                                     uint64_t table_elements, uint64_t instances);
/** Defines `module::name` as `item` (replacing any previous definition). */
kiln_error_t *kiln_linker_define(kiln_linker_t *linker, const char *module, const char *name,
                                 const kiln_extern_t *item);
/** Defines `module::name` as a host function: see kiln_func_new() for the other arguments. */
kiln_error_t *kiln_linker_define_func(kiln_linker_t *linker, const char *module,
                                      const char *name, const kiln_valkind_t *params,
                                      size_t nparams, const kiln_valkind_t *results,
                                      size_t nresults, kiln_host_callback_t callback, void *env,
                                      kiln_finalizer_t finalizer);
/** Like kiln_linker_define_func(), with a callback that receives its caller. */
kiln_error_t *kiln_linker_define_func_with_caller(kiln_linker_t *linker, const char *module,
                                                  const char *name, const kiln_valkind_t *params,
                                                  size_t nparams, const kiln_valkind_t *results,
                                                  size_t nresults,
                                                  kiln_host_callback_with_caller_t callback,
                                                  void *env, kiln_finalizer_t finalizer);
/** Defines every export of `instance` under `module`. */
kiln_error_t *kiln_linker_define_instance(kiln_linker_t *linker, const char *module,
                                          const kiln_instance_t *instance);
/**
 * Instantiates `module` with imports resolved from the linker: segments are applied and the
 * start function runs. Unknown or mistyped imports give KILN_ERROR_LINK; a trap in the start
 * function or a segment gives KILN_ERROR_TRAP.
 */
kiln_error_t *kiln_linker_instantiate(const kiln_linker_t *linker, const kiln_module_t *module,
                                      kiln_instance_t **out);
/**
 * Resolves and type-checks `module`'s imports from the linker once (errors as for
 * kiln_linker_instantiate(): KILN_ERROR_LINK). The result instantiates with
 * kiln_instance_pre_instantiate() without looking anything up again; later definitions in the
 * linker do not change it. It keeps the module and the imported items alive; free it with
 * kiln_instance_pre_delete(). Usable from any thread.
 */
kiln_error_t *kiln_linker_instantiate_pre(const kiln_linker_t *linker,
                                          const kiln_module_t *module, kiln_instance_pre_t **out);
/**
 * A new instance of the pre's module: segments applied, start function run (a trap there gives
 * KILN_ERROR_TRAP).
 */
kiln_error_t *kiln_instance_pre_instantiate(const kiln_instance_pre_t *pre,
                                            kiln_instance_t **out);
/** Frees a pre-instantiated module (instances made from it stay valid). */
void kiln_instance_pre_delete(kiln_instance_pre_t *pre);

/** Instantiates `module` with `imports[i]` for its i-th import (in import order). */
kiln_error_t *kiln_instance_new(const kiln_module_t *module,
                                const kiln_extern_t *const *imports, size_t nimports,
                                kiln_instance_t **out);
/** Frees an instance handle (exported items obtained from it keep it alive). */
void kiln_instance_delete(kiln_instance_t *instance);
/** The export named `name` (KILN_ERROR_OTHER if there is none). */
kiln_error_t *kiln_instance_get_export(const kiln_instance_t *instance, const char *name,
                                       kiln_extern_t **out);
/** The function export named `name` (error if missing or not a function). */
kiln_error_t *kiln_instance_get_func(const kiln_instance_t *instance, const char *name,
                                     kiln_func_t **out);
/** The memory export named `name` (error if missing or not a memory). */
kiln_error_t *kiln_instance_get_memory(const kiln_instance_t *instance, const char *name,
                                       kiln_memory_t **out);
/** The global export named `name` (error if missing or not a global). */
kiln_error_t *kiln_instance_get_global(const kiln_instance_t *instance, const char *name,
                                       kiln_global_t **out);
/** The table export named `name` (error if missing or not a table). */
kiln_error_t *kiln_instance_get_table(const kiln_instance_t *instance, const char *name,
                                      kiln_table_t **out);
/**
 * Sets the epoch deadline of the instance's store (the instance and every instance linked with
 * it) to the engine's current epoch + `ticks`: guest code running when the epoch passes it
 * traps with KILN_TRAP_INTERRUPT.
 */
kiln_error_t *kiln_instance_set_epoch_deadline(const kiln_instance_t *instance, uint64_t ticks);

/* ---------------------------------------------------------------------------------------- */
/* Externs                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** The item's kind (0xFF for NULL). */
kiln_externkind_t kiln_extern_kind(const kiln_extern_t *item);
/** Frees an extern handle (NULL is a no-op). */
void kiln_extern_delete(kiln_extern_t *item);
/** A new function handle if `item` is a function, else NULL. */
kiln_func_t *kiln_extern_to_func(const kiln_extern_t *item);
/** A new memory handle if `item` is a memory, else NULL. */
kiln_memory_t *kiln_extern_to_memory(const kiln_extern_t *item);
/** A new global handle if `item` is a global, else NULL. */
kiln_global_t *kiln_extern_to_global(const kiln_extern_t *item);
/** A new table handle if `item` is a table, else NULL. */
kiln_table_t *kiln_extern_to_table(const kiln_extern_t *item);
/** A new extern handle for a function (NULL for NULL). */
kiln_extern_t *kiln_func_as_extern(const kiln_func_t *func);
/** A new extern handle for a memory (NULL for NULL). */
kiln_extern_t *kiln_memory_as_extern(const kiln_memory_t *memory);
/** A new extern handle for a global (NULL for NULL). */
kiln_extern_t *kiln_global_as_extern(const kiln_global_t *global);
/** A new extern handle for a table (NULL for NULL). */
kiln_extern_t *kiln_table_as_extern(const kiln_table_t *table);

/* ---------------------------------------------------------------------------------------- */
/* Memories                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/** A memory type. */
typedef struct kiln_memorytype {
  uint64_t min;          /**< minimum size in pages */
  uint64_t max;          /**< maximum size in pages, if has_max */
  bool has_max;          /**< whether there is a maximum */
  bool memory64;         /**< 64-bit indexed */
  bool shared;           /**< shared memory */
  uint8_t page_size_log2; /**< log2 of the page size; 0 means 16 (64 KiB pages) */
} kiln_memorytype_t;

/** Creates a host memory (to import into instances). */
kiln_error_t *kiln_memory_new(const kiln_engine_t *engine, const kiln_memorytype_t *type,
                              kiln_memory_t **out);
/** Frees a memory handle (NULL is a no-op). */
void kiln_memory_delete(kiln_memory_t *memory);
/**
 * Base address of the memory's bytes (NULL for NULL). The base never moves while the memory
 * lives (growing maps more pages in place); access only the first kiln_memory_data_size()
 * bytes.
 */
uint8_t *kiln_memory_data(const kiln_memory_t *memory);
/** Current size in bytes. */
size_t kiln_memory_data_size(const kiln_memory_t *memory);
/** Current size in pages. */
uint64_t kiln_memory_size_pages(const kiln_memory_t *memory);
/** Grows by `delta` pages; the old size in pages goes to `*old_pages` (may be NULL). */
kiln_error_t *kiln_memory_grow(const kiln_memory_t *memory, uint64_t delta,
                               uint64_t *old_pages);
/** Copies `len` bytes at `offset` into `buf` (bounds-checked). */
kiln_error_t *kiln_memory_read(const kiln_memory_t *memory, uint64_t offset, void *buf,
                               size_t len);
/** Copies `len` bytes from `data` to `offset` (bounds-checked). */
kiln_error_t *kiln_memory_write(const kiln_memory_t *memory, uint64_t offset, const void *data,
                                size_t len);

/* ---------------------------------------------------------------------------------------- */
/* Globals                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/** Creates a host global of type `kind` (mutable or not) holding `*init`. */
kiln_error_t *kiln_global_new(const kiln_engine_t *engine, kiln_valkind_t kind, bool mutable_,
                              const kiln_val_t *init, kiln_global_t **out);
/** Frees a global handle (NULL is a no-op). */
void kiln_global_delete(kiln_global_t *global);
/** The global's value type (KILN_VALKIND_INVALID for NULL). */
kiln_valkind_t kiln_global_kind(const kiln_global_t *global);
/** Whether the global is mutable. */
bool kiln_global_is_mutable(const kiln_global_t *global);
/** Reads the value into `*out` (a funcref is a new handle: kiln_val_delete()). */
kiln_error_t *kiln_global_get(const kiln_global_t *global, kiln_val_t *out);
/** Sets the value (mutable globals only; the kind must match). */
kiln_error_t *kiln_global_set(const kiln_global_t *global, const kiln_val_t *val);

/* ---------------------------------------------------------------------------------------- */
/* Tables                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/** A table type. */
typedef struct kiln_tabletype {
  kiln_valkind_t element; /**< KILN_FUNCREF or KILN_EXTERNREF */
  uint64_t min;           /**< minimum number of elements */
  uint64_t max;           /**< maximum number of elements, if has_max */
  bool has_max;           /**< whether there is a maximum */
} kiln_tabletype_t;

/** Creates a host table with every element set to `*init`. */
kiln_error_t *kiln_table_new(const kiln_engine_t *engine, const kiln_tabletype_t *type,
                             const kiln_val_t *init, kiln_table_t **out);
/** Frees a table handle (NULL is a no-op). */
void kiln_table_delete(kiln_table_t *table);
/** The element type (KILN_VALKIND_INVALID for NULL). */
kiln_valkind_t kiln_table_element(const kiln_table_t *table);
/** Current number of elements. */
uint64_t kiln_table_size(const kiln_table_t *table);
/** Reads element `index` (error if out of bounds; a funcref is a new handle). */
kiln_error_t *kiln_table_get(const kiln_table_t *table, uint64_t index, kiln_val_t *out);
/** Sets element `index`. */
kiln_error_t *kiln_table_set(const kiln_table_t *table, uint64_t index, const kiln_val_t *val);
/** Grows by `delta` elements set to `*init`; the old size goes to `*old_size` (may be NULL). */
kiln_error_t *kiln_table_grow(const kiln_table_t *table, uint64_t delta, const kiln_val_t *init,
                              uint64_t *old_size);

/* ======================================================================================== */
/* Components                                                                                */
/* ======================================================================================== */
/*
 * WebAssembly components compiled by kiln into one `.so` (docs/component-abi.md). A component
 * is loaded (kiln_component_load), its imports are defined by WIT name in a component linker
 * with C callbacks, it is instantiated, and its exports are looked up by name (`f`, or
 * `ns:pkg/iface#f` for a function of an exported interface) and called either
 *
 * - with dynamic values (kiln_cval_t trees, checked and converted against the function's
 *   type): kiln_component_func_call(); or
 * - raw, with the *host C representation* of the values passed straight to the compiled
 *   canonical-ABI glue (no generic conversion): kiln_component_func_call_raw() followed by
 *   kiln_component_func_post_return(). `kiln bindgen c FILE.so` writes a header with C types
 *   for that representation and typed wrappers.
 *
 * Host C representation (64-bit): bool = uint8_t; s8..u64 = int8_t..uint64_t; f32/f64 =
 * float/double; char = uint32_t; string = kiln_string_t (UTF-8); list<T> = { const T *ptr;
 * size_t len; }; record/tuple = C struct of the fields in order; variant/result = { uint32_t
 * tag; union { case payloads } payload; } (no union when no case has a payload); enum =
 * uint32_t; option<T> = { uint8_t is_some; T value; }; flags = uint32_t[ceil(n/32)];
 * own/borrow = uint32_t handle. A parameter list is passed as a C struct of the parameters.
 *
 * Errors and traps are the kiln_error_t / kiln_trap_t of the core API: a guest trap, an
 * invalid value produced by the guest (message starting "canonical ABI:") and an error
 * returned by a host callback come back as errors of kind KILN_ERROR_TRAP.
 *
 * Argument mistakes do not poison. Both call paths check the host's arguments before the
 * guest is entered: strings must be valid UTF-8, a string or list with a non-zero length
 * must have a non-NULL pointer (never a crash), bool is 0 or 1, char a Unicode scalar value,
 * enum/variant/result tags and option is_some in range, flags without bits past their
 * labels, resource handles present in the host handle table with the right type (an own
 * handle passed on must be an own handle with no outstanding borrows, and no other argument
 * of the call may use a handle that moves). A mistake is a KILN_ERROR_OTHER error naming the
 * argument and the path inside it (e.g. "argument 0 (`x.b[1]`): string is not valid UTF-8
 * (invalid byte at offset 2)"), nothing ran, and the instance stays usable. Argument indices
 * count from 0.
 *
 * Poisoning: a trap during an export call (or its post-return) after the guest was entered
 * leaves the instance unenterable, as the component model specifies: every later export call
 * fails with a KILN_ERROR_TRAP "cannot enter component instance". The function
 * kiln_component_instance_is_poisoned() tells; the only way on is a new instance. A host
 * callback returning an error makes the guest trap, so it poisons too.
 *
 * Resource handles (own/borrow, in kiln_cval_t and in the host C representation) are indices
 * in the instance's host handle table: an own handle passed to the guest moves out of it, one
 * returned by the guest moves into it; a borrow is lent for the call (the guest must drop it
 * before returning). kiln_component_instance_resource_*() create, read and drop them.
 */

/** A loaded component `.so`. */
typedef struct kiln_component kiln_component_t;
/** Host definitions of a component's imports, by WIT name. */
typedef struct kiln_component_linker kiln_component_linker_t;
/** A component checked against a component linker, ready to instantiate. */
typedef struct kiln_component_pre kiln_component_pre_t;
/** An instantiated component. */
typedef struct kiln_component_instance kiln_component_instance_t;
/** An exported component function of an instance. */
typedef struct kiln_component_func kiln_component_func_t;

/** A string in the host C representation: UTF-8, `len` in bytes, not NUL-terminated. */
typedef struct kiln_string {
  const char *ptr; /**< the bytes */
  size_t len;      /**< length in bytes */
} kiln_string_t;

/** The tag of a kiln_cval_t: the component value type. */
typedef uint8_t kiln_cval_kind_t;
enum kiln_cval_kind_enum {
  KILN_CVAL_BOOL = 0,     /**< of.boolean */
  KILN_CVAL_S8 = 1,       /**< of.s8 */
  KILN_CVAL_U8 = 2,       /**< of.u8 */
  KILN_CVAL_S16 = 3,      /**< of.s16 */
  KILN_CVAL_U16 = 4,      /**< of.u16 */
  KILN_CVAL_S32 = 5,      /**< of.s32 */
  KILN_CVAL_U32 = 6,      /**< of.u32 */
  KILN_CVAL_S64 = 7,      /**< of.s64 */
  KILN_CVAL_U64 = 8,      /**< of.u64 */
  KILN_CVAL_F32 = 9,      /**< of.f32 */
  KILN_CVAL_F64 = 10,     /**< of.f64 */
  KILN_CVAL_CHAR = 11,    /**< of.character (a Unicode scalar value) */
  KILN_CVAL_STRING = 12,  /**< of.string */
  KILN_CVAL_LIST = 13,    /**< of.list: the elements */
  KILN_CVAL_RECORD = 14,  /**< of.list: the field values in declaration order */
  KILN_CVAL_TUPLE = 15,   /**< of.list: the members in order */
  KILN_CVAL_VARIANT = 16, /**< of.variant: case index and payload */
  KILN_CVAL_ENUM = 17,    /**< of.enumeration: the case index */
  KILN_CVAL_OPTION = 18,  /**< of.variant: tag 0 none, 1 some (payload) */
  KILN_CVAL_RESULT = 19,  /**< of.variant: tag 0 ok, 1 err; payload NULL if that side has no type */
  KILN_CVAL_FLAGS = 20,   /**< of.flags */
  KILN_CVAL_OWN = 21,     /**< of.handle */
  KILN_CVAL_BORROW = 22,  /**< of.handle */
};

typedef struct kiln_cval kiln_cval_t;

/**
 * A dynamic component value: a tagged tree. Values are typed by position (record fields in
 * declaration order, variant/enum cases by index, flags by label index), so the function's
 * type (kiln_component_func_type(), the WIT world) gives them meaning.
 *
 * Ownership: values passed into kiln_component_func_call() are borrowed (any memory). Values
 * kiln hands out (call results, host callback arguments) and values a host callback writes as
 * its result are *owned*: every pointer inside comes from malloc() (kiln_cval_alloc() and
 * kiln_cval_set_string() help) and kiln_cval_delete() frees them with free(). Owned strings
 * are also NUL-terminated.
 */
struct kiln_cval {
  kiln_cval_kind_t kind; /**< which member of `of` is valid */
  union {
    bool boolean;       /**< bool */
    int8_t s8;          /**< s8 */
    uint8_t u8;         /**< u8 */
    int16_t s16;        /**< s16 */
    uint16_t u16;       /**< u16 */
    int32_t s32;        /**< s32 */
    uint32_t u32;       /**< u32 */
    int64_t s64;        /**< s64 */
    uint64_t u64;       /**< u64 */
    float f32;          /**< f32 */
    double f64;         /**< f64 */
    uint32_t character; /**< char */
    struct {
      char *ptr;  /**< UTF-8 bytes */
      size_t len; /**< length in bytes (without a NUL) */
    } string;     /**< string */
    struct {
      kiln_cval_t *ptr; /**< the values */
      size_t len;       /**< how many */
    } list;             /**< list, record, tuple */
    struct {
      uint32_t tag;         /**< case index */
      kiln_cval_t *payload; /**< one value, or NULL when the case has no payload */
    } variant;              /**< variant, option, result */
    uint32_t enumeration;   /**< enum: case index */
    struct {
      uint32_t *words; /**< bit i % 32 of word i / 32 is label i */
      size_t len;      /**< number of words (ceil(labels / 32)) */
    } flags;           /**< flags */
    uint32_t handle;   /**< own, borrow */
  } of;                /**< the payload */
};

/** Frees an owned value's contents (free() on every pointer) and resets it to bool false. */
void kiln_cval_delete(kiln_cval_t *value);
/** Sets `*value` to an owned string: a malloc'ed, NUL-terminated copy of `len` bytes at `s`. */
kiln_error_t *kiln_cval_set_string(kiln_cval_t *value, const char *s, size_t len);
/**
 * malloc()s an array of `n` values, each bool false (NULL when `n` is 0 or on failure): the
 * elements of an owned list/record/tuple, or (n = 1) the payload of a variant/option/result.
 */
kiln_cval_t *kiln_cval_alloc(size_t n);

/**
 * Loads a component `.so` compiled by kiln, with the same checks as kiln_module_load() before
 * anything is mapped (KILN_ERROR_LOAD, with nothing run, if it is not one fit for this host).
 */
kiln_error_t *kiln_component_load(const kiln_engine_t *engine, const char *path,
                                  kiln_component_t **out);
/** Frees a component handle (instances keep what they need alive). */
void kiln_component_delete(kiln_component_t *component);
/** The component's imports and exports as a WIT world (owned by the component). */
const char *kiln_component_world(const kiln_component_t *component);

/**
 * A component import implemented in C with dynamic values. `env` is the pointer given when
 * the function was defined. `instance` is the calling component instance, borrowed for the
 * call (e.g. for kiln_component_instance_resource_rep()); it is NULL while the component is
 * being instantiated (imports called from start functions). `args` holds the `nargs`
 * arguments (owned by kiln, borrowed for the call). `result` is NULL for a function without
 * result; otherwise the callback writes an owned value of the result type there (kiln reads
 * it and frees it with kiln_cval_delete()). Returning NULL is success; returning an error
 * makes the calling guest trap (a trap error propagates unchanged, any other error becomes a
 * trap of kind KILN_TRAP_HOST_ERROR with its message). The runtime frees the returned error.
 */
typedef kiln_error_t *(*kiln_component_callback_t)(void *env,
                                                   const kiln_component_instance_t *instance,
                                                   const kiln_cval_t *args, size_t nargs,
                                                   kiln_cval_t *result);
/**
 * A component import implemented in C over the host C representation (what `kiln bindgen c`
 * headers register). `args` is the C struct of the parameters (strings and lists valid during
 * the call); `result` is a zeroed buffer for the result (unused without one). Strings and
 * lists written into the result must stay valid until the callback returns and kiln has
 * copied them: static data, or memory from kiln_component_host_alloc(). The result is checked
 * like call arguments (UTF-8, NULL pointers with a length, discriminants...) before the guest
 * gets it: a mistake makes the calling guest trap with a message naming it, never a crash.
 * `env`, `instance` and errors as for kiln_component_callback_t.
 */
typedef kiln_error_t *(*kiln_component_raw_callback_t)(void *env,
                                                       const kiln_component_instance_t *instance,
                                                       const void *args, void *result);
/**
 * Allocates `size` zeroed bytes (8-byte aligned) that live until the running raw host
 * callback's result has been copied into the guest; NULL outside a raw callback.
 */
void *kiln_component_host_alloc(size_t size);

/** Creates an empty component linker. */
kiln_error_t *kiln_component_linker_new(const kiln_engine_t *engine,
                                        kiln_component_linker_t **out);
/** Frees a component linker (instances keep their definitions alive). */
void kiln_component_linker_delete(kiln_component_linker_t *linker);
/**
 * Defines the function import `name`: a world-level function (`log`), or a function of an
 * imported interface written `ns:pkg/iface#f` (as in WIT, with any `@version`). Replaces an
 * earlier definition of the name. `finalizer` (may be NULL) is called on `env` when the
 * definition is freed, or right away if this call fails. Definitions the component does not
 * import are ignored at instantiation.
 */
kiln_error_t *kiln_component_linker_define_func(kiln_component_linker_t *linker, const char *name,
                                                kiln_component_callback_t callback, void *env,
                                                kiln_finalizer_t finalizer);
/** Defines function `name` of the imported interface `interface` (`ns:pkg/iface`). */
kiln_error_t *kiln_component_linker_define_interface_func(kiln_component_linker_t *linker,
                                                          const char *interface, const char *name,
                                                          kiln_component_callback_t callback,
                                                          void *env, kiln_finalizer_t finalizer);
/** Like kiln_component_linker_define_func(), with a raw callback. */
kiln_error_t *kiln_component_linker_define_func_raw(kiln_component_linker_t *linker,
                                                    const char *name,
                                                    kiln_component_raw_callback_t callback,
                                                    void *env, kiln_finalizer_t finalizer);
/**
 * Instantiates `component`: every function import must be defined (else KILN_ERROR_LINK); a
 * trap during instantiation gives KILN_ERROR_TRAP.
 */
kiln_error_t *kiln_component_linker_instantiate(const kiln_component_linker_t *linker,
                                                const kiln_component_t *component,
                                                kiln_component_instance_t **out);
/**
 * Checks `component`'s imports against the linker's definitions once (errors as for
 * kiln_component_linker_instantiate()). The result instantiates with
 * kiln_component_pre_instantiate() with a snapshot of the definitions (later changes to the
 * linker do not affect it); free it with kiln_component_pre_delete(). Usable from any thread.
 */
kiln_error_t *kiln_component_linker_instantiate_pre(const kiln_component_linker_t *linker,
                                                    const kiln_component_t *component,
                                                    kiln_component_pre_t **out);
/** A new instance of the pre's component (a trap during instantiation gives KILN_ERROR_TRAP). */
kiln_error_t *kiln_component_pre_instantiate(const kiln_component_pre_t *pre,
                                             kiln_component_instance_t **out);
/** Frees a pre-instantiated component (instances made from it stay valid). */
void kiln_component_pre_delete(kiln_component_pre_t *pre);
/** Frees an instance handle (functions obtained from it keep it alive). */
void kiln_component_instance_delete(kiln_component_instance_t *instance);
/**
 * Gives the store of each instance this linker makes an epoch deadline `ticks` after the
 * engine's epoch at instantiation, set before any of the component's code runs (core start
 * functions, the component's start function). Guest code, glue loops, host-side lifting and
 * blocking WASI calls trap with KILN_TRAP_INTERRUPT once it passes.
 */
kiln_error_t *kiln_component_linker_set_epoch_deadline(kiln_component_linker_t *linker,
                                                       uint64_t ticks);
/**
 * Limits the stores of the instances this linker makes (0: unlimited, or the default for
 * `host_value_bytes`, 256 MiB): bytes of any one linear memory, elements of any one table, core
 * and component instances in a store, host bytes the values lifted in one call may take.
 */
kiln_error_t *kiln_component_linker_set_limits(kiln_component_linker_t *linker,
                                               uint64_t memory_bytes, uint64_t table_elements,
                                               uint64_t instances, uint64_t host_value_bytes);
/**
 * Sets the epoch deadline of the instance's store to the engine's epoch + `ticks` (see
 * kiln_component_linker_set_epoch_deadline()).
 */
kiln_error_t *kiln_component_instance_set_epoch_deadline(
    const kiln_component_instance_t *instance, uint64_t ticks);
/**
 * Whether a trap ended an export call (or post-return) of the instance after it had entered
 * the guest, leaving the instance unenterable (see "Poisoning" above); false for NULL.
 */
bool kiln_component_instance_is_poisoned(const kiln_component_instance_t *instance);
/** The exported function `name` (`f`, or `ns:pkg/iface#f`); KILN_ERROR_OTHER if missing. */
kiln_error_t *kiln_component_instance_get_func(const kiln_component_instance_t *instance,
                                               const char *name, kiln_component_func_t **out);

/** The index of the resource type named `name` (its import or export name) in `*out`. */
kiln_error_t *kiln_component_instance_resource_type(const kiln_component_instance_t *instance,
                                                    const char *name, uint32_t *out);
/**
 * Creates an own handle in the host handle table for a resource type the host implements,
 * with representation `rep` (e.g. an index into the host's own objects); `*out` receives it.
 */
kiln_error_t *kiln_component_instance_resource_new(const kiln_component_instance_t *instance,
                                                   uint32_t resource, uint32_t rep,
                                                   uint32_t *out);
/** The representation of host handle `handle` of type `resource` (also for a lent borrow). */
kiln_error_t *kiln_component_instance_resource_rep(const kiln_component_instance_t *instance,
                                                   uint32_t resource, uint32_t handle,
                                                   uint32_t *out);
/**
 * Drops host handle `handle` of type `resource`; dropping an own handle of a resource type
 * the component defines runs its destructor (a trap there gives KILN_ERROR_TRAP).
 */
kiln_error_t *kiln_component_instance_resource_drop(const kiln_component_instance_t *instance,
                                                    uint32_t resource, uint32_t handle);

/** Frees a function handle; runs the post-return of raw calls still waiting for one. */
void kiln_component_func_delete(kiln_component_func_t *func);
/** The function's type in WIT (`func(a: string) -> u32`), owned by the handle. */
const char *kiln_component_func_type(const kiln_component_func_t *func);
/** Number of parameters. */
size_t kiln_component_func_param_count(const kiln_component_func_t *func);
/** Whether the function has a result. */
bool kiln_component_func_has_result(const kiln_component_func_t *func);

/**
 * A component value type, as a tree (introspection without parsing WIT). Nodes are owned by
 * the function handle they come from and live as long as it.
 * - kiln_ctype_kind(): the kind, as the kiln_cval_t of such values (KILN_CVAL_*; 0xFF for
 *   component-model async types, which have no C value yet). A `map<K, V>` is a
 *   KILN_CVAL_LIST of 2-member tuples, a fixed-length list a KILN_CVAL_LIST whose length is
 *   kiln_ctype_index().
 * - kiln_ctype_count(): fields (record), cases (variant), members (tuple), labels (enum,
 *   flags), 1 (list, option: the element), 2 (result: ok, err), else 0.
 * - kiln_ctype_name(t, i): the name of field/case/label `i` (NULL for other kinds).
 * - kiln_ctype_child(t, i): the type of field `i`, the payload of case `i`, member `i`, the
 *   element (i = 0), or result's ok (0) / err (1); NULL when there is none.
 * - kiln_ctype_index(): the resource index of `own`/`borrow` (as kiln_cval_t handles carry it),
 *   the length of a fixed-length list, else 0.
 * NULL arguments give 0xFF, 0 or NULL.
 */
typedef struct kiln_ctype kiln_ctype_t;
/** The kind of type node `t` (see kiln_ctype_t). */
kiln_cval_kind_t kiln_ctype_kind(const kiln_ctype_t *t);
/** The number of names or children of `t` (see kiln_ctype_t). */
size_t kiln_ctype_count(const kiln_ctype_t *t);
/** Name `i` of `t` (see kiln_ctype_t), or NULL. */
const char *kiln_ctype_name(const kiln_ctype_t *t, size_t i);
/** Child type `i` of `t` (see kiln_ctype_t), or NULL. */
const kiln_ctype_t *kiln_ctype_child(const kiln_ctype_t *t, size_t i);
/** The resource index or fixed length of `t` (see kiln_ctype_t). */
uint32_t kiln_ctype_index(const kiln_ctype_t *t);
/** The name of parameter `i` (NULL when out of range). */
const char *kiln_component_func_param_name(const kiln_component_func_t *func, size_t i);
/** The type of parameter `i` (NULL when out of range). */
const kiln_ctype_t *kiln_component_func_param_type(const kiln_component_func_t *func, size_t i);
/** The result type (NULL without result). */
const kiln_ctype_t *kiln_component_func_result_type(const kiln_component_func_t *func);
/** The number of functions the component exports (at the top level and in exported
 * interfaces). */
size_t kiln_component_export_count(const kiln_component_t *component);
/**
 * The name of exported function `i`, as kiln_component_instance_get_func() takes it (`f`, or
 * `ns:pkg/iface#f`), owned by the component handle; NULL when out of range.
 */
const char *kiln_component_export_name(const kiln_component_t *component, size_t i);
/**
 * Calls the function with dynamic values: `args` (borrowed) must have the parameter types.
 * `*result` (may be NULL to discard) receives an owned value of the result type (free it with
 * kiln_cval_delete()); it is set to bool false first and left so for a function without
 * result. The post-return runs before this returns. A guest trap or an invalid value from the
 * guest gives a KILN_ERROR_TRAP error; mistyped arguments give KILN_ERROR_OTHER.
 */
kiln_error_t *kiln_component_func_call(const kiln_component_func_t *func,
                                       const kiln_cval_t *args, size_t nargs,
                                       kiln_cval_t *result);
/**
 * Calls the function raw: `args` points at the C struct of the parameters in the host C
 * representation (may be NULL without parameters); it is checked in place (see "Argument
 * mistakes do not poison" above: a mistake is a KILN_ERROR_OTHER error and nothing is
 * pending), then handed to the compiled glue as is, with no conversion. The host C
 * representation of the result is written to `results` (room for it; may be NULL without
 * result). Pointers other than NULL must be valid for their lengths. On success the result's
 * strings and lists may point into guest memory or a per-call buffer: read (or copy) them,
 * then call kiln_component_func_post_return(func), which must come before the instance is
 * entered again (else that call traps: may_enter) and, with several raw calls outstanding,
 * innermost first on the same thread. On error nothing is pending.
 */
kiln_error_t *kiln_component_func_call_raw(const kiln_component_func_t *func, const void *args,
                                           void *results);
/**
 * Runs the post-return of the last raw call of `func` (the guest's post-return function), then
 * frees that call's result buffers; the result must no longer be used. Error if no raw call is
 * pending; a trap in the guest's post-return gives KILN_ERROR_TRAP.
 */
kiln_error_t *kiln_component_func_post_return(const kiln_component_func_t *func);
/** One raw call whose post-return is pending (kiln_component_func_call_raw_begin()). */
typedef struct kiln_component_call kiln_component_call_t;
/**
 * kiln_component_func_call_raw() whose pending post-return is a handle of its own, `*call`,
 * instead of state of the function handle: calls of one function from several places finish
 * independently. Run kiln_component_call_post_return(*call) on the same thread once the
 * result was read (innermost first); nothing is pending on error.
 */
kiln_error_t *kiln_component_func_call_raw_begin(const kiln_component_func_t *func,
                                                 const void *args, void *results,
                                                 kiln_component_call_t **call);
/**
 * Runs the post-return of `call` (the guest's post-return function), frees the call's result
 * buffers and the handle (also when the post-return traps). Must run on the thread that made
 * the call: from another thread it is an error and the handle stays as it was.
 */
kiln_error_t *kiln_component_call_post_return(kiln_component_call_t *call);

/* ---- Calls that do not block (component-model async) ---------------------------------- */

/**
 * A call in progress (kiln_component_func_call_async()). It runs on a stack of its own: when
 * the guest waits (an `async` export waiting on a subtask, a stream, a host timer or host
 * I/O), control returns to the host, whose event loop drives it with
 * kiln_component_async_call_poll(). A call is bound to the thread that started it: poll, wait
 * and delete it there (from another thread they are errors, and delete leaks the handle).
 * While it is unfinished that thread owns the instance (other threads' calls get
 * KILN_ERROR_BUSY). The function handle must outlive the call.
 */
typedef struct kiln_component_async_call kiln_component_async_call_t;
/**
 * Starts calling `func` with dynamic values (as kiln_component_func_call()): runs it until it
 * first waits or finishes, and gives the call handle in `*call` (free it with
 * kiln_component_async_call_delete()).
 */
kiln_error_t *kiln_component_func_call_async(const kiln_component_func_t *func,
                                             const kiln_cval_t *args, size_t nargs,
                                             kiln_component_async_call_t **call);
/**
 * Runs the guest work that is ready (each waiting task once) and the host completions that
 * arrived, without blocking. `*done` tells whether the call finished; when it did, `*result`
 * (may be NULL) receives the owned result as kiln_component_func_call() gives it, or the call's
 * error is returned (a trap, or a deadlock: nothing can run and nothing will arrive). A
 * finished call cannot be polled again.
 */
kiln_error_t *kiln_component_async_call_poll(kiln_component_async_call_t *call, bool *done,
                                             kiln_cval_t *result);
/** Blocks until the call finished, running the event loop; then as a finished poll. */
kiln_error_t *kiln_component_async_call_wait(kiln_component_async_call_t *call,
                                             kiln_cval_t *result);
/**
 * Nanoseconds until the earliest host timer of the call's instance (a guest waiting in
 * `wasi:clocks` `wait-for`), 0 if one is due, -1 if none: an event loop with nothing else to
 * do polls again then.
 */
int64_t kiln_component_async_call_next_deadline_ns(const kiln_component_async_call_t *call);
/**
 * Sets the callback kiln calls (from any thread, with `data`) when host work for the call's
 * instance arrives (stream data from a host thread, finished host I/O): poll again soon, e.g.
 * by writing to an eventfd the loop watches. One callback per instance (the last set wins);
 * removed when the call finishes or is deleted.
 */
kiln_error_t *kiln_component_async_call_set_wake(kiln_component_async_call_t *call,
                                                 void (*wake)(void *data), void *data);
/**
 * Frees the call. An unfinished call is abandoned: its frames unwind and the instance is
 * poisoned (as after a trap).
 */
void kiln_component_async_call_delete(kiln_component_async_call_t *call);

/* ---- WASI 0.2 for components ---------------------------------------------------------- */

/** A WASI configuration being built (consumed by kiln_component_linker_add_wasi()). */
typedef struct kiln_wasi_config kiln_wasi_config_t;
/** A buffer a guest's stdout or stderr goes to. */
typedef struct kiln_wasi_buffer kiln_wasi_buffer_t;

/**
 * A configuration that grants nothing: no arguments, environment, directories or network;
 * stdin empty, stdout and stderr discarded.
 */
kiln_wasi_config_t *kiln_wasi_config_new(void);
/** Frees a configuration not handed to a linker. */
void kiln_wasi_config_delete(kiln_wasi_config_t *config);
/** Sets the program arguments (`wasi:cli/environment#get-arguments`), the program name first. */
kiln_error_t *kiln_wasi_config_set_args(kiln_wasi_config_t *config, const char *const *argv,
                                        size_t argc);
/** Adds an environment variable. */
kiln_error_t *kiln_wasi_config_add_env(kiln_wasi_config_t *config, const char *name,
                                       const char *value);
/**
 * Gives the guest host directory `host_path` as `guest_path`. The guest cannot leave it
 * (`..`, absolute paths and symlinks are confined). `read_only` refuses every write.
 */
kiln_error_t *kiln_wasi_config_preopen_dir(kiln_wasi_config_t *config, const char *host_path,
                                           const char *guest_path, bool read_only);
/** Allows (or forbids, the default) the guest's use of the network (`wasi:sockets`). */
void kiln_wasi_config_inherit_network(kiln_wasi_config_t *config, bool allow);
/** The guest's stdin, stdout and stderr are the host process's. */
void kiln_wasi_config_inherit_stdio(kiln_wasi_config_t *config);
/** The guest's stdin reads these bytes (copied), then ends. */
kiln_error_t *kiln_wasi_config_set_stdin_bytes(kiln_wasi_config_t *config, const uint8_t *data,
                                               size_t len);
/**
 * Stdio stream `which` (0 stdin, 1 stdout, 2 stderr) uses the open file descriptor `fd`,
 * which kiln takes over (it is closed when the last instance using it is gone).
 */
kiln_error_t *kiln_wasi_config_set_stdio_fd(kiln_wasi_config_t *config, int which, int fd);
/**
 * Output stream `which` (1 stdout, 2 stderr) is collected in a buffer; `*out` receives a
 * handle to read it (free it with kiln_wasi_buffer_delete()).
 */
kiln_error_t *kiln_wasi_config_set_output_buffer(kiln_wasi_config_t *config, int which,
                                                 kiln_wasi_buffer_t **out);
/**
 * What was written to the buffer so far: a pointer valid until the next call on this buffer
 * or its deletion, and its length in `*len`.
 */
const uint8_t *kiln_wasi_buffer_data(const kiln_wasi_buffer_t *buffer, size_t *len);
/** Frees a buffer handle. */
void kiln_wasi_buffer_delete(kiln_wasi_buffer_t *buffer);
/**
 * Adds WASI 0.2 (wasi:cli, io, clocks, random, filesystem, sockets; imports of any 0.2.x
 * version) to the instances `linker` makes, each with its own open files and streams.
 * Consumes `config` (also on error). Functions defined with kiln_component_linker_define_func()
 * take precedence over WASI's of the same name.
 */
kiln_error_t *kiln_component_linker_add_wasi(kiln_component_linker_t *linker,
                                             kiln_wasi_config_t *config);
/**
 * Runs a command: calls the instance's `wasi:cli/run#run`. `*status` (may be NULL) receives
 * the exit status: 0 when it returned ok, 1 for err, or the code the guest passed to exit.
 * A trap gives KILN_ERROR_TRAP (the instance must not be used again).
 */
kiln_error_t *kiln_wasi_run_command(const kiln_component_instance_t *instance, int *status);

#ifdef __cplusplus
}
#endif

#endif /* KILN_H */
