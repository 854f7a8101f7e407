//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong opening, reading or writing the store.
///
/// Messages name the database file or the job so a CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No trainyard home could be derived: none of `TRAINYARD_HOME`, `XDG_DATA_HOME`, `HOME` is set.
    #[error("cannot find the trainyard home: set TRAINYARD_HOME (or XDG_DATA_HOME or HOME)")]
    NoHome,
    /// The home directory could not be created.
    #[error("cannot create the trainyard home {path}: {source}")]
    CreateHome {
        /// The directory we tried to create.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite could not open or configure the database file.
    #[error("cannot open the job database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer trainyard whose schema this build does not know.
    #[error(
        "the job database {path} has schema version {found}, newer than this trainyard supports \
         ({supported}); upgrade trainyard or point TRAINYARD_HOME elsewhere"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A schema migration failed; the database is left at the previous version.
    #[error("cannot migrate the job database {path} to schema version {version}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version whose migration failed.
        version: u32,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A job, attempt or rank the caller named is not in the store.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `job j-20261128-153012-ab12`.
        what: String,
    },
    /// A value read from the database is not one this build understands.
    #[error("unreadable value in the job database: {what}")]
    Corrupt {
        /// What was wrong, naming the column and the value.
        what: String,
    },
    /// Any other SQLite error.
    #[error("job database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
