//! Unit tests of the translator: translate small modules, verify the IR and lower it.
