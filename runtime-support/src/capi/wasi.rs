//! C API: WASI 0.2 for components (`kiln_wasi_config_t`): arguments, environment, preopened
//! directories, network permission and stdio (inherited, file descriptors or buffers the host
//! reads), added to a component linker; and running a command (`wasi:cli/run`).
//!
//! Wraps `crate::wasi` (`WasiConfig`, `add_to_linker_shared`, `run_command`).

use super::component::{kiln_component_instance_t, kiln_component_linker_t};
use super::*;
use crate::wasi::{OutputBuffer, OutputConfig, StdinConfig, WasiConfig};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

/// `kiln_wasi_config_t`: a WASI configuration being built.
pub struct kiln_wasi_config_t {
    config: WasiConfig,
}

/// `kiln_wasi_buffer_t`: a buffer a guest's stdout or stderr is written to, and the last
/// snapshot of it handed to C.
pub struct kiln_wasi_buffer_t {
    buffer: OutputBuffer,
    snapshot: Mutex<Vec<u8>>,
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub extern "C" fn kiln_wasi_config_new() -> *mut kiln_wasi_config_t {
    boxed(kiln_wasi_config_t {
        config: WasiConfig::new(),
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_delete(config: *mut kiln_wasi_config_t) {
    // SAFETY: caller contract.
    unsafe { free(config) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_set_args(
    config: *mut kiln_wasi_config_t,
    argv: *const *const c_char,
    argc: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let c = unsafe { handle_mut(config, "config") }?;
        // SAFETY: caller contract: `argv` has `argc` entries.
        let argv = unsafe { slice_arg(argv, argc, "argv") }?;
        let mut args = Vec::with_capacity(argc);
        for (i, a) in argv.iter().enumerate() {
            // SAFETY: caller contract: each entry is a NUL-terminated string.
            args.push(unsafe { str_arg(*a, &format!("argv[{i}]")) }?.to_string());
        }
        c.config.args = args;
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_add_env(
    config: *mut kiln_wasi_config_t,
    name: *const c_char,
    value: *const c_char,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let c = unsafe { handle_mut(config, "config") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let value = unsafe { str_arg(value, "value") }?;
        if name.is_empty() || name.contains('=') {
            return Err(Error::Other(format!(
                "invalid environment variable name `{name}`"
            )));
        }
        c.config.env(name, value);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_preopen_dir(
    config: *mut kiln_wasi_config_t,
    host_path: *const c_char,
    guest_path: *const c_char,
    read_only: bool,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let c = unsafe { handle_mut(config, "config") }?;
        let host = unsafe { str_arg(host_path, "host_path") }?;
        let guest = unsafe { str_arg(guest_path, "guest_path") }?;
        match std::fs::metadata(host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::Other(format!("`{host}` is not a directory"))),
            Err(e) => return Err(Error::Other(format!("cannot open `{host}`: {e}"))),
        }
        c.config.preopen_dir(host, guest, read_only);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_inherit_network(
    config: *mut kiln_wasi_config_t,
    allow: bool,
) {
    // SAFETY: caller contract.
    if let Ok(c) = unsafe { handle_mut(config, "config") } {
        c.config.inherit_network(allow);
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_inherit_stdio(config: *mut kiln_wasi_config_t) {
    // SAFETY: caller contract.
    if let Ok(c) = unsafe { handle_mut(config, "config") } {
        c.config.inherit_stdio();
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_set_stdin_bytes(
    config: *mut kiln_wasi_config_t,
    data: *const u8,
    len: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (both).
        let c = unsafe { handle_mut(config, "config") }?;
        let data = unsafe { slice_arg(data, len, "data") }?;
        c.config.stdin = StdinConfig::Bytes(data.to_vec());
        Ok(())
    })
}

/// Takes ownership of `fd` (checked to be open).
fn owned_fd(fd: i32) -> Result<OwnedFd, Error> {
    // SAFETY: fcntl(F_GETFD) only queries the descriptor.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(Error::Other(format!("{fd} is not an open file descriptor")));
    }
    // SAFETY: the caller hands the open descriptor `fd` over to kiln (kiln.h).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_set_stdio_fd(
    config: *mut kiln_wasi_config_t,
    which: i32,
    fd: i32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let c = unsafe { handle_mut(config, "config") }?;
        if !(0..=2).contains(&which) {
            return Err(Error::Other(format!(
                "stdio stream {which} is not 0 (stdin), 1 (stdout) or 2 (stderr)"
            )));
        }
        let fd = owned_fd(fd)?;
        match which {
            0 => c.config.stdin = StdinConfig::Fd(fd),
            1 => c.config.stdout = OutputConfig::Fd(fd),
            _ => c.config.stderr = OutputConfig::Fd(fd),
        }
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_config_set_output_buffer(
    config: *mut kiln_wasi_config_t,
    which: i32,
    out: *mut *mut kiln_wasi_buffer_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (both).
        let c = unsafe { handle_mut(config, "config") }?;
        let out = unsafe { out_arg(out, "out") }?;
        let buffer = OutputBuffer::new();
        match which {
            1 => c.config.stdout = OutputConfig::Buffer(buffer.clone()),
            2 => c.config.stderr = OutputConfig::Buffer(buffer.clone()),
            _ => {
                return Err(Error::Other(format!(
                    "output stream {which} is not 1 (stdout) or 2 (stderr)"
                )))
            }
        }
        *out = boxed(kiln_wasi_buffer_t {
            buffer,
            snapshot: Mutex::new(Vec::new()),
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_buffer_data(
    buffer: *const kiln_wasi_buffer_t,
    len: *mut usize,
) -> *const u8 {
    get_or(std::ptr::null(), || {
        // SAFETY: caller contract.
        let Some(b) = (unsafe { buffer.as_ref() }) else {
            return std::ptr::null();
        };
        let mut snap = b.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        *snap = b.buffer.contents();
        // SAFETY: caller contract: `len` is NULL or writable.
        if let Some(len) = unsafe { len.as_mut() } {
            *len = snap.len();
        }
        snap.as_ptr()
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_buffer_delete(buffer: *mut kiln_wasi_buffer_t) {
    // SAFETY: caller contract.
    unsafe { free(buffer) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_add_wasi(
    linker: *mut kiln_component_linker_t,
    config: *mut kiln_wasi_config_t,
) -> *mut kiln_error_t {
    wrap(|| {
        if config.is_null() {
            return Err(null("config"));
        }
        // SAFETY: `config` came from kiln_wasi_config_new and is not used again by C: it is
        // consumed here, also when the linker argument is bad.
        let config = unsafe { Box::from_raw(config) }.config;
        // SAFETY: caller contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        l.set_wasi(Arc::new(config));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_wasi_run_command(
    instance: *const kiln_component_instance_t,
    status: *mut i32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let i = unsafe { handle(instance, "instance") }?;
        let code = crate::wasi::run_command(i.instance())?;
        // SAFETY: caller contract: `status` is NULL or writable.
        if let Some(s) = unsafe { status.as_mut() } {
            *s = code;
        }
        Ok(())
    })
}
