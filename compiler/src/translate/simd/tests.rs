//! Unit tests of the SIMD translator (filled in once the translator core exists).
