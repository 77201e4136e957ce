//! nat-std
