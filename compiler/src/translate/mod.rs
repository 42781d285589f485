//! placeholder (translator owner replaces this)
