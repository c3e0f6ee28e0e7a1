//! The SQLite schema and connection settings.
//!
//! `kv` is a log: one row per revision (the row id *is* the revision), like
//! k3s's kine. A row records a creation (`created = 1`), an update, or a
//! deletion (`deleted = 1`, whose `value` is the last value the key held, so
//! a watch can report it even after older rows are compacted away).
//! `current` maps each live key to its newest row: `get`, `count` and a list
//! at the current revision read it instead of grouping the log.
//! `meta` holds the compacted revision.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            BLOB    NOT NULL,
    created         INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS current (
    name BLOB    PRIMARY KEY,
    id   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('compact_revision', 0);
";

/// Schema version recorded in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Opens the writer connection and creates the schema.
///
/// Durability: WAL mode with `synchronous=NORMAL` does not fsync on every
/// commit, only at checkpoints. A committed write survives a crash of the
/// process, but a power loss or kernel crash can lose the last commits
/// (the database stays consistent). That is the trade-off k3s makes too;
/// it keeps a write in the tens of microseconds.
pub(super) fn open_writer(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    configure(&conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {version} is newer than this skiff ({SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

/// Opens an extra connection for reads to a database file (WAL lets readers
/// run beside the writer, each on a consistent snapshot). `query_only` keeps
/// it from writing; it opens read-write so it can use the WAL index.
pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_extra(path)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Opens another connection to an existing database file.
pub(super) fn open_extra(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 32 MiB page cache per connection (negative = KiB).
    conn.pragma_update(None, "cache_size", -32 * 1024)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// The newest revision ever written (0 for a new database).
pub(super) fn load_revision(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM kv", [], |row| row.get(0))
}

pub(super) fn load_compacted(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'compact_revision'",
        [],
        |row| row.get(0),
    )
}
