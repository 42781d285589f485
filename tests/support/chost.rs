//! C (and C++) hosts built against `kiln.h` and the runtime library, for the C API tests.

use crate::tools::{output, runtime_include_dir, runtime_lib_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a C host links the runtime.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// `-lkiln_runtime` with an rpath to this build's library directory.
    Shared,
    /// `libkiln_runtime.a` plus the system libraries it needs.
    Static,
}

/// A C host to build: one source file, `-std=c11 -Wall -Wextra`, `kiln.h` on the include path.
/// A warning fails the build.
pub struct CHost<'a> {
    source: &'a Path,
    link: Link,
    include: Vec<PathBuf>,
    flags: Vec<String>,
    cxx: bool,
}

impl<'a> CHost<'a> {
    /// A host built from `source`, linked against the shared library.
    pub fn new(source: &'a Path) -> CHost<'a> {
        CHost {
            source,
            link: Link::Shared,
            include: Vec::new(),
            flags: Vec::new(),
            cxx: false,
        }
    }

    /// Links the runtime as `link` says.
    pub fn link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }

    /// Adds an include directory (generated headers).
    pub fn include(mut self, dir: &Path) -> Self {
        self.include.push(dir.to_path_buf());
        self
    }

    /// Builds the source as C++17 with `c++` (`CXX`) instead.
    pub fn cxx(mut self) -> Self {
        self.cxx = true;
        self
    }

    /// Adds compiler flags.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|f| f.to_string()));
        self
    }

    /// Builds the host as `dir/name` and returns its path; panics with the compiler's output on
    /// an error or a warning.
    pub fn build(self, dir: &Path, name: &str) -> PathBuf {
        let lib = runtime_lib_dir();
        let exe = dir.join(name);
        let (compiler, std) = match self.cxx {
            false => (
                std::env::var_os("CC").unwrap_or_else(|| "cc".into()),
                "-std=c11",
            ),
            true => (
                std::env::var_os("CXX").unwrap_or_else(|| "c++".into()),
                "-std=c++17",
            ),
        };
        let mut cmd = Command::new(compiler);
        cmd.args([std, "-Wall", "-Wextra"])
            .args(&self.flags)
            .arg("-I")
            .arg(runtime_include_dir());
        for inc in &self.include {
            cmd.arg("-I").arg(inc);
        }
        cmd.arg(self.source).arg("-o").arg(&exe);
        match self.link {
            Link::Shared => {
                cmd.arg("-L")
                    .arg(lib)
                    .arg("-lkiln_runtime")
                    .arg(format!("-Wl,-rpath,{}", lib.display()));
            }
            Link::Static => {
                cmd.arg(lib.join("libkiln_runtime.a"))
                    .args(["-lpthread", "-ldl", "-lm"]);
            }
        }
        let out = output(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "cc failed on {}:\n{stderr}",
            self.source.display()
        );
        assert!(
            !stderr.contains("warning:"),
            "cc warnings on {}:\n{stderr}",
            self.source.display()
        );
        exe
    }
}
