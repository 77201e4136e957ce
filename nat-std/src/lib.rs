//! `nat-std`: the std runtime of the translation library. Everything with a clock, a file or a
//! socket lives here; the translators themselves stay sans-IO in `nat-core`.
//!
//! - [`store`]: a `hashbrown` session store for tens of millions of sessions.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod store;
