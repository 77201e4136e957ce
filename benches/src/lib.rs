//! Benchmarks of the translation library: see `benches/`.
