//! kiln-cli: the `kiln` command-line tool and the wast script engine.
//!
//! The last stage of the project: it drives `kiln-compiler` (wasm → `.so`) and `kiln-runtime`
//! (load, instantiate, call) for users ([`commands`]) and for the spec testsuite ([`wast`]).

#![deny(missing_docs)]

pub mod backend;
pub mod commands;
pub mod tempdir;
pub mod values;
pub mod wast;
