//! Writes. Each runs in one transaction on the single writer connection and
//! is given the revision it will take (`rev`, the current revision + 1): the
//! caller holds the writer lock, so nothing else can take it first.

use rusqlite::{Connection, Transaction, params};

use super::read;
use crate::{EventType, KeyValue, Result, Revision, StoreError, WatchEvent};

struct Row<'a> {
    key: &'a str,
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: &'a [u8],
}

fn insert(tx: &Transaction<'_>, rev: Revision, row: &Row<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        rev,
        row.key.as_bytes(),
        row.created,
        row.deleted,
        row.create_revision,
        row.prev_revision,
        row.value
    ])?;
    Ok(())
}

fn set_current(tx: &Transaction<'_>, key: &str, rev: Revision) -> Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO current (name, id) VALUES (?1, ?2)")?
        .execute(params![key.as_bytes(), rev])?;
    Ok(())
}

/// The key's current value, checked against the expected revision.
fn expect_current(tx: &Transaction<'_>, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
    let current = read::get(tx, key)?.ok_or(StoreError::NotFound)?;
    match expected {
        Some(expected) if expected != current.mod_revision => Err(StoreError::Conflict {
            current: Some(current),
        }),
        _ => Ok(current),
    }
}

pub(super) fn create(
    conn: &mut Connection,
    rev: Revision,
    key: &str,
    value: Vec<u8>,
) -> Result<WatchEvent> {
    let tx = conn.transaction()?;
    let exists = tx
        .prepare_cached("SELECT 1 FROM current WHERE name = ?1")?
        .exists(params![key.as_bytes()])?;
    if exists {
        return Err(StoreError::AlreadyExists);
    }
    let row = Row {
        key,
        created: true,
        deleted: false,
        create_revision: rev,
        prev_revision: 0,
        value: &value,
    };
    insert(&tx, rev, &row)?;
    set_current(&tx, key, rev)?;
    tx.commit()?;
    Ok(WatchEvent {
        event_type: EventType::Added,
        kv: KeyValue {
            key: key.to_owned(),
            value,
            mod_revision: rev,
            create_revision: rev,
        },
    })
}

pub(super) fn update(
    conn: &mut Connection,
    rev: Revision,
    key: &str,
    value: Vec<u8>,
    expected: Revision,
) -> Result<WatchEvent> {
    let tx = conn.transaction()?;
    let current = expect_current(&tx, key, Some(expected))?;
    let row = Row {
        key,
        created: false,
        deleted: false,
        create_revision: current.create_revision,
        prev_revision: current.mod_revision,
        value: &value,
    };
    insert(&tx, rev, &row)?;
    set_current(&tx, key, rev)?;
    tx.commit()?;
    Ok(WatchEvent {
        event_type: EventType::Modified,
        kv: KeyValue {
            key: key.to_owned(),
            value,
            mod_revision: rev,
            create_revision: current.create_revision,
        },
    })
}

/// Returns the deletion event and the last value (as it was stored).
pub(super) fn delete(
    conn: &mut Connection,
    rev: Revision,
    key: &str,
    expected: Option<Revision>,
) -> Result<(WatchEvent, KeyValue)> {
    let tx = conn.transaction()?;
    let last = expect_current(&tx, key, expected)?;
    // The deletion row keeps the last value: compaction may remove the row
    // that wrote it while a watcher still needs the deletion event.
    let row = Row {
        key,
        created: false,
        deleted: true,
        create_revision: last.create_revision,
        prev_revision: last.mod_revision,
        value: &last.value,
    };
    insert(&tx, rev, &row)?;
    tx.prepare_cached("DELETE FROM current WHERE name = ?1")?
        .execute(params![key.as_bytes()])?;
    tx.commit()?;
    let event = WatchEvent {
        event_type: EventType::Deleted,
        kv: KeyValue {
            key: key.to_owned(),
            value: last.value.clone(),
            mod_revision: rev,
            create_revision: last.create_revision,
        },
    };
    Ok((event, last))
}

/// Records the compacted revision (before any row goes, so a reader that
/// sees a removed row also sees why).
pub(super) fn mark_compacted(conn: &Connection, revision: Revision) -> Result<()> {
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'compact_revision'",
        params![revision],
    )?;
    Ok(())
}

/// The oldest row still stored, if any.
pub(super) fn oldest_row(conn: &Connection) -> Result<Option<Revision>> {
    Ok(conn.query_row("SELECT MIN(id) FROM kv", [], |row| row.get(0))?)
}

/// Removes the rows with ids in `[from, to)` (all below `revision`) that the
/// state at `revision` no longer needs: rows superseded by a newer row at or
/// before `revision`, and deletion rows. Ranges must be compacted in
/// ascending order: a row is then always removed no later than the newer
/// row that superseded it, so no superseded value can resurface.
pub(super) fn compact_range(
    conn: &Connection,
    from: Revision,
    to: Revision,
    revision: Revision,
) -> Result<usize> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM kv
             WHERE id >= ?1 AND id < ?2
               AND (deleted = 1 OR EXISTS (
                    SELECT 1 FROM kv AS newer
                    WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= ?3))",
        )?
        .execute(params![from, to.min(revision), revision])?;
    Ok(removed)
}

/// The id `rows` stored rows after `from` (where the next compaction chunk
/// starts), or `None` when fewer rows follow.
pub(super) fn chunk_end(conn: &Connection, from: Revision, rows: i64) -> Result<Option<Revision>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM kv WHERE id >= ?1 ORDER BY id LIMIT 1 OFFSET ?2")?;
    let mut ids = stmt.query_map(params![from, rows], |row| row.get(0))?;
    Ok(ids.next().transpose()?)
}
