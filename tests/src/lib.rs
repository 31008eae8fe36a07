//! Cross-program tests live in tests/main.rs.
