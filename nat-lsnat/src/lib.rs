//! nat-lsnat
#![no_std]
