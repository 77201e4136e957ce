//! nat-alloc
#![no_std]
