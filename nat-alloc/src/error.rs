//! Configuration errors: every constructor validates its configuration and names the field at
//! fault, so that a TOML loader can point at the line ([DESIGN.md] "errors that name the field").
//!
//! [DESIGN.md]: https://example.invalid/nat/DESIGN.md

/// Why a configuration or its storage was refused; `field` names the offending setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigError {
    /// A list that must hold at least one element is empty.
    Empty {
        /// The configuration field.
        field: &'static str,
    },
    /// A value lies outside its allowed range.
    OutOfRange {
        /// The configuration field.
        field: &'static str,
    },
    /// Two ranges or prefixes of one list overlap ([RFC 6888] REQ-3 pools are disjoint ranges).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
    Overlap {
        /// The configuration field.
        field: &'static str,
    },
    /// Values that are each valid do not fit together (e.g. more subscribers than outside ports).
    Inconsistent {
        /// The configuration field.
        field: &'static str,
    },
    /// The caller-provided storage is too small for the configuration.
    StorageTooSmall {
        /// The storage field.
        field: &'static str,
        /// Elements needed.
        need: usize,
        /// Elements given.
        got: usize,
    },
}

impl ConfigError {
    /// The configuration or storage field this error is about.
    pub const fn field(&self) -> &'static str {
        match self {
            ConfigError::Empty { field }
            | ConfigError::OutOfRange { field }
            | ConfigError::Overlap { field }
            | ConfigError::Inconsistent { field }
            | ConfigError::StorageTooSmall { field, .. } => field,
        }
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::Empty { field } => write!(f, "{field}: must not be empty"),
            ConfigError::OutOfRange { field } => write!(f, "{field}: value out of range"),
            ConfigError::Overlap { field } => write!(f, "{field}: entries overlap"),
            ConfigError::Inconsistent { field } => {
                write!(f, "{field}: inconsistent with other settings")
            }
            ConfigError::StorageTooSmall { field, need, got } => {
                write!(f, "{field}: storage too small (need {need}, got {got})")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

/// Checks that `got >= need` for the storage `field`.
pub(crate) fn need(field: &'static str, need: usize, got: usize) -> Result<(), ConfigError> {
    if got < need {
        Err(ConfigError::StorageTooSmall { field, need, got })
    } else {
        Ok(())
    }
}
