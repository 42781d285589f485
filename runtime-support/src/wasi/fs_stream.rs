//! Streams over open files (`read-via-stream`, `write-via-stream`, `append-via-stream`:
//! `pread`/`pwrite` at the stream's own offset on a duplicate of the file's descriptor) and
//! the directory-entry stream of `read-directory`.

use super::fs_desc::{dtype_type, mode_type, MAX_READ};
use super::fs_sys::{self, code, Code, DirStream, Errno};
use crate::wasi::{InputStream, IoError, OutputStream, Readiness, StreamError};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

/// Most bytes `check-write` lets a guest write to a file stream at once.
const WRITE_BUDGET: u64 = 1 << 20;

fn failed(e: Errno) -> StreamError {
    StreamError::Failed(IoError::from(std::io::Error::from_raw_os_error(e)))
}

/// An input stream reading a file from an offset.
pub(crate) struct FileReader {
    fd: OwnedFd,
    pos: u64,
}

impl FileReader {
    /// A reader of (a duplicate of) `fd` from `pos`.
    pub(crate) fn new(fd: &OwnedFd, pos: u64) -> Result<FileReader, Code> {
        let fd = fd
            .try_clone()
            .map_err(|e| code(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(FileReader { fd, pos })
    }
}

impl InputStream for FileReader {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let data = fs_sys::pread(self.fd.as_fd(), len.min(MAX_READ), self.pos).map_err(failed)?;
        if data.is_empty() {
            return Err(StreamError::Closed);
        }
        self.pos += data.len() as u64;
        Ok(data)
    }

    fn blocking_read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        self.read(len)
    }

    fn readiness(&self) -> Readiness {
        Readiness::Always
    }
}

/// An output stream writing a file at an offset, or appending.
pub(crate) struct FileWriter {
    fd: OwnedFd,
    /// The next write's offset; `None` appends.
    pos: Option<u64>,
}

impl FileWriter {
    /// A writer of (a duplicate of) `fd` at `pos` (`None`: at the end of the file).
    pub(crate) fn new(fd: &OwnedFd, pos: Option<u64>) -> Result<FileWriter, Code> {
        let fd = fd
            .try_clone()
            .map_err(|e| code(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(FileWriter { fd, pos })
    }
}

impl OutputStream for FileWriter {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        Ok(WRITE_BUDGET)
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<(), StreamError> {
        while !bytes.is_empty() {
            let n = match self.pos {
                Some(pos) => fs_sys::pwrite(self.fd.as_fd(), bytes, pos),
                None => fs_sys::append(self.fd.as_fd(), bytes),
            }
            .map_err(failed)?;
            if n == 0 {
                return Err(failed(libc::EIO));
            }
            if let Some(pos) = &mut self.pos {
                *pos += n as u64;
            }
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn readiness(&self) -> Readiness {
        Readiness::Always
    }
}

/// The object behind a `directory-entry-stream` handle.
pub(crate) struct DirEntries(DirStream);

impl DirEntries {
    /// The entries of directory `dir` (read from its start, independently of other readers).
    pub(crate) fn new(dir: &OwnedFd) -> Result<DirEntries, Code> {
        DirStream::open(dir.as_fd()).map(DirEntries).map_err(code)
    }

    /// The next entry (type, name), skipping `.` and `..`; `None` at the end.
    pub(crate) fn next(&mut self) -> Result<Option<(&'static str, String)>, Code> {
        let Some((name, dtype)) = self.0.next().map_err(code)? else {
            return Ok(None);
        };
        let ty = match dtype_type(dtype) {
            Some(t) => t,
            None => {
                let c = CString::new(name.clone()).map_err(|_| "invalid")?;
                match fs_sys::fstatat(self.0.fd(), &c, false) {
                    Ok(st) => mode_type(st.st_mode),
                    Err(_) => "unknown",
                }
            }
        };
        let name = String::from_utf8(name).map_err(|_| "illegal-byte-sequence")?;
        Ok(Some((ty, name)))
    }
}
