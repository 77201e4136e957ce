//! Errors: allocation-free, `Copy`, one variant per reason.

use core::fmt;

/// Why a pool operation failed (draft-srisuresh-lsnat § 3, § 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolError {
    /// Every slot of the pool holds a server (draft-srisuresh-lsnat § 3).
    Full,
    /// A server with the same address and port is already in the pool.
    Duplicate,
    /// The id names no server: never issued, or its server was removed since
    /// (draft-srisuresh-lsnat § 4.1).
    UnknownServer,
    /// `unbind` on a server that has no session bound (draft-srisuresh-lsnat § 4.3).
    NotBound,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::Full => "server pool is full",
            PoolError::Duplicate => "server already in the pool",
            PoolError::UnknownServer => "no such server (removed or never added)",
            PoolError::NotBound => "server has no session bound",
        })
    }
}

impl core::error::Error for PoolError {}

/// Why no server was chosen for a new session (draft-srisuresh-lsnat § 4.1, § 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChooseError {
    /// No server can take the session: the pool is empty, or every server is dead, draining,
    /// in maintenance without a usable backup, of weight zero or of infinite cost.
    NoServer,
    /// The destination is not a load-shared service of this virtual server
    /// (draft-srisuresh-lsnat § 3: load share may be restricted to some services).
    NotLoadShared,
}

impl fmt::Display for ChooseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChooseError::NoServer => "no server available for a new session",
            ChooseError::NotLoadShared => "destination is not a load-shared service",
        })
    }
}

impl core::error::Error for ChooseError {}

/// Why a virtual server or table configuration was refused (draft-srisuresh-lsnat § 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Maglev algorithm was selected on a virtual server built without a table (`M = 0`).
    NoMaglevTable,
    /// The service list is full.
    TooManyServices,
    /// The service (protocol and port) is already listed.
    DuplicateService,
    /// The static backup mapping list is full.
    TooManyMappings,
    /// A mapping names a server that is not in the pool, or maps a server to itself.
    BadMapping,
    /// The virtual server table is full.
    TableFull,
    /// Another virtual server already load-shares this address and service.
    Overlap,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::NoMaglevTable => "Maglev needs a table (M > 0)",
            ConfigError::TooManyServices => "too many services",
            ConfigError::DuplicateService => "service already listed",
            ConfigError::TooManyMappings => "too many backup mappings",
            ConfigError::BadMapping => "backup mapping names an unknown server or itself",
            ConfigError::TableFull => "virtual server table is full",
            ConfigError::Overlap => "address and service already load-shared",
        })
    }
}

impl core::error::Error for ConfigError {}
