//! `wasi:cli/*`: the program's arguments, environment and initial directory, `exit`, the
//! stdio streams and the terminal queries. [`Stdio`] is made per instance from the
//! [`WasiConfig`]'s [`StdinConfig`]/[`OutputConfig`]; every `get-stdout` (etc.) call returns a
//! new `output-stream` handle writing to the same sink. Writes to stdio are unbuffered and
//! complete before the call returns (so `flush` has nothing to do and output is never lost
//! when the guest exits). Raw descriptor I/O is in `cli_fd.rs`.

#[path = "cli_fd.rs"]
pub(crate) mod fd;

use super::streams::{InputStream, OutputStream, Readiness, StreamError};
use super::{
    arg, define, define_resource, new_handle, new_input_stream, new_output_stream, option, string,
    versioned, OutputBuffer, OutputConfig, StdinConfig, WasiConfig,
};
use crate::component::{ComponentLinker, Val};
use crate::error::{Error, Trap};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// Most bytes one stdio `read` returns, and the write permit `check-write` gives.
pub const MAX_IO: usize = 1 << 20;

/// `wasi:cli/terminal-input#terminal-input`.
const TERMINAL_INPUT: (&str, &str) = ("cli/terminal-input", "terminal-input");
/// `wasi:cli/terminal-output#terminal-output`.
const TERMINAL_OUTPUT: (&str, &str) = ("cli/terminal-output", "terminal-output");

/// The table object behind a `terminal-input` or `terminal-output` handle (no methods).
pub struct TerminalObj;

/// Where one instance's stdin bytes come from (shared by all its `get-stdin` handles).
#[derive(Clone)]
enum StdinSource {
    Null,
    /// The bytes and the read position.
    Bytes(Arc<Mutex<(Vec<u8>, usize)>>),
    /// A descriptor (a duplicate of the host's fd 0 or of the configured one).
    Fd(Arc<OwnedFd>),
}

/// Where one instance's stdout or stderr goes (shared by all its handles).
#[derive(Clone)]
enum Sink {
    Null,
    Buffer(OutputBuffer),
    /// The host process's own descriptor (1 or 2), never closed by kiln.
    Inherit {
        fd: RawFd,
        pipe: bool,
    },
    /// A duplicate of the configured descriptor.
    Fd {
        fd: Arc<OwnedFd>,
        pipe: bool,
    },
}

/// The stdio streams of one instance.
pub struct Stdio {
    stdin: StdinSource,
    stdout: Sink,
    stderr: Sink,
    stdin_tty: bool,
    stdout_tty: bool,
    stderr_tty: bool,
}

fn dup(fd: BorrowedFd<'_>, what: &str) -> Result<OwnedFd, Error> {
    fd.try_clone_to_owned()
        .map_err(|e| Error::Other(format!("WASI: cannot duplicate the {what} descriptor: {e}")))
}

fn sink(c: &OutputConfig, inherit_fd: RawFd, what: &str) -> Result<(Sink, bool), Error> {
    Ok(match c {
        OutputConfig::Null => (Sink::Null, false),
        OutputConfig::Buffer(b) => (Sink::Buffer(b.clone()), false),
        OutputConfig::Inherit => {
            if !fd::is_open(inherit_fd) {
                (Sink::Null, false)
            } else {
                let sink = Sink::Inherit {
                    fd: inherit_fd,
                    pipe: fd::is_pipe_like(inherit_fd),
                };
                (sink, fd::is_tty(inherit_fd))
            }
        }
        OutputConfig::Fd(f) => {
            let owned = dup(f.as_fd(), what)?;
            let pipe = fd::is_pipe_like(owned.as_raw_fd());
            let sink = Sink::Fd {
                fd: Arc::new(owned),
                pipe,
            };
            (sink, false)
        }
    })
}

impl Stdio {
    /// Opens the configured stdio: inherited and configured descriptors are duplicated for
    /// stdin (the instance closes its duplicate); inherited stdout/stderr are written through
    /// the host's fd 1 and 2 directly.
    pub fn new(config: &WasiConfig) -> Result<Stdio, Error> {
        let (stdin, stdin_tty) = match &config.stdin {
            StdinConfig::Null => (StdinSource::Null, false),
            StdinConfig::Bytes(b) => (
                StdinSource::Bytes(Arc::new(Mutex::new((b.clone(), 0)))),
                false,
            ),
            StdinConfig::Inherit => {
                if !fd::is_open(0) {
                    (StdinSource::Null, false)
                } else {
                    // SAFETY: fd 0 was just checked to be open; the borrow only lives for
                    // the duplication.
                    let zero = unsafe { BorrowedFd::borrow_raw(0) };
                    let owned = dup(zero, "stdin")?;
                    (StdinSource::Fd(Arc::new(owned)), fd::is_tty(0))
                }
            }
            StdinConfig::Fd(f) => (StdinSource::Fd(Arc::new(dup(f.as_fd(), "stdin")?)), false),
        };
        let (stdout, stdout_tty) = sink(&config.stdout, 1, "stdout")?;
        let (stderr, stderr_tty) = sink(&config.stderr, 2, "stderr")?;
        Ok(Stdio {
            stdin,
            stdout,
            stderr,
            stdin_tty,
            stdout_tty,
            stderr_tty,
        })
    }

    /// A new stdin stream (reading the shared source).
    pub fn stdin_stream(&self) -> Box<dyn InputStream> {
        Box::new(StdinStream {
            src: self.stdin.clone(),
        })
    }

    /// A new stdout stream.
    pub fn stdout_stream(&self) -> Box<dyn OutputStream> {
        Box::new(StdOutput::new(self.stdout.clone()))
    }

    /// A new stderr stream.
    pub fn stderr_stream(&self) -> Box<dyn OutputStream> {
        Box::new(StdOutput::new(self.stderr.clone()))
    }
}

/// An `input-stream` reading the instance's stdin.
struct StdinStream {
    src: StdinSource,
}

fn fd_read(fd: RawFd, len: usize, block: bool) -> Result<Vec<u8>, StreamError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    loop {
        if !block && !fd::wait_fd(fd, libc::POLLIN, Some(std::time::Duration::ZERO))? {
            return Ok(Vec::new());
        }
        match fd::read_once(fd, len.min(MAX_IO))? {
            Some(b) if b.is_empty() => return Err(StreamError::Closed),
            Some(b) => return Ok(b),
            None if block => {
                fd::wait_fd(fd, libc::POLLIN, None)?;
            }
            None => return Ok(Vec::new()),
        }
    }
}

impl InputStream for StdinStream {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        match &self.src {
            StdinSource::Null => Err(StreamError::Closed),
            StdinSource::Bytes(b) => {
                let mut g = b.lock().unwrap_or_else(|e| e.into_inner());
                let (data, pos) = &mut *g;
                if *pos >= data.len() {
                    return Err(StreamError::Closed);
                }
                let n = len.min(MAX_IO).min(data.len() - *pos);
                let out = data[*pos..*pos + n].to_vec();
                *pos += n;
                Ok(out)
            }
            StdinSource::Fd(f) => fd_read(f.as_raw_fd(), len, false),
        }
    }

    fn blocking_read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        match &self.src {
            StdinSource::Fd(f) => fd_read(f.as_raw_fd(), len, true),
            _ => self.read(len),
        }
    }

    fn readiness(&self) -> Readiness {
        match &self.src {
            StdinSource::Fd(f) => Readiness::Fd {
                fd: f.clone(),
                write: false,
            },
            _ => Readiness::Always,
        }
    }
}

/// An `output-stream` writing to the instance's stdout or stderr. After a failure the
/// stream is closed, as `stream-error` says.
struct StdOutput {
    sink: Sink,
    closed: bool,
}

impl StdOutput {
    fn new(sink: Sink) -> StdOutput {
        StdOutput {
            sink,
            closed: false,
        }
    }
}

impl OutputStream for StdOutput {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(MAX_IO as u64)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        let r = match &self.sink {
            Sink::Null => Ok(()),
            Sink::Buffer(b) => {
                b.0.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(bytes);
                Ok(())
            }
            Sink::Inherit { fd, pipe } => fd::write_all(*fd, bytes, *pipe),
            Sink::Fd { fd, pipe } => fd::write_all(fd.as_raw_fd(), bytes, *pipe),
        };
        r.map_err(|e| {
            self.closed = true;
            StreamError::from(e)
        })
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(())
    }

    fn readiness(&self) -> Readiness {
        Readiness::Always
    }
}

/// Adds `wasi:cli/{environment,exit,stdin,stdout,stderr,terminal-*}` (0.2) and the same
/// interfaces of 0.3 but stdio (`cli3.rs`).
pub fn add(linker: &mut ComponentLinker) {
    for p3 in [false, true] {
        let env = versioned("cli/environment", p3);
        define(linker, &env, "get-environment", |_, st, _| {
            let env = st
                .config
                .env
                .iter()
                .map(|(k, v)| Val::Tuple(vec![string(k.as_str()), string(v.as_str())]))
                .collect();
            Ok(Some(Val::List(env)))
        });
        define(linker, &env, "get-arguments", |_, st, _| {
            let args = st.config.args.iter().map(|a| string(a.as_str())).collect();
            Ok(Some(Val::List(args)))
        });
        let cwd = if p3 { "get-initial-cwd" } else { "initial-cwd" };
        define(linker, &env, cwd, |_, st, _| {
            Ok(Some(option(st.config.cwd.as_deref().map(string))))
        });

        let exit = versioned("cli/exit", p3);
        define(linker, &exit, "exit", |_, _, args| match arg(args, 0)? {
            Val::Result(Ok(_)) => Err(Trap::exit(0)),
            Val::Result(Err(_)) => Err(Trap::exit(1)),
            other => Err(Trap::host(format!(
                "WASI: exit expects a result, got {other:?}"
            ))),
        });
        define(linker, &exit, "exit-with-code", |_, _, args| {
            match arg(args, 0)? {
                Val::U8(code) => Err(Trap::exit(i32::from(*code))),
                other => Err(Trap::host(format!(
                    "WASI: exit-with-code expects a u8, got {other:?}"
                ))),
            }
        });

        let input = versioned(TERMINAL_INPUT.0, p3);
        let output = versioned(TERMINAL_OUTPUT.0, p3);
        define_resource::<TerminalObj>(linker, &input, TERMINAL_INPUT.1);
        define_resource::<TerminalObj>(linker, &output, TERMINAL_OUTPUT.1);
        for (iface, name, which) in [
            ("cli/terminal-stdin", "get-terminal-stdin", 0),
            ("cli/terminal-stdout", "get-terminal-stdout", 1),
            ("cli/terminal-stderr", "get-terminal-stderr", 2),
        ] {
            let res = if which == 0 {
                (input.clone(), TERMINAL_INPUT.1)
            } else {
                (output.clone(), TERMINAL_OUTPUT.1)
            };
            define(linker, &versioned(iface, p3), name, move |cx, st, _| {
                let tty = [st.stdio.stdin_tty, st.stdio.stdout_tty, st.stdio.stderr_tty][which];
                let h = if tty {
                    Some(new_handle(cx, st, (&res.0, res.1), TerminalObj)?)
                } else {
                    None
                };
                Ok(Some(option(h)))
            });
        }
    }

    define(linker, "cli/stdin", "get-stdin", |cx, st, _| {
        new_input_stream(cx, st, st.stdio.stdin_stream()).map(Some)
    });
    define(linker, "cli/stdout", "get-stdout", |cx, st, _| {
        new_output_stream(cx, st, st.stdio.stdout_stream()).map(Some)
    });
    define(linker, "cli/stderr", "get-stderr", |cx, st, _| {
        new_output_stream(cx, st, st.stdio.stderr_stream()).map(Some)
    });
}
