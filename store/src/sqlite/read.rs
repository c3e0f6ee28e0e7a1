//! Reads: each runs on one connection inside one read transaction, so it sees
//! a consistent snapshot (the current revision, the compacted revision and
//! the rows agree).

use rusqlite::{Connection, Row, params};

use super::schema::{load_compacted, load_revision};
use crate::keys::{prefix_end, range_start};
use crate::{
    EventType, KeyValue, ListOptions, ListResult, Result, Revision, StoreError, WatchEvent,
};

/// Upper bound for an unbounded range: no UTF-8 key contains the byte 0xFF.
const UNBOUNDED_END: &[u8] = &[0xFF];

fn range_end(prefix: &str) -> Vec<u8> {
    prefix_end(prefix.as_bytes()).unwrap_or_else(|| UNBOUNDED_END.to_vec())
}

fn key_from(bytes: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// Maps a row `(name, id, create_revision, value)`.
fn key_value(row: &Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: key_from(row.get(0)?)?,
        mod_revision: row.get(1)?,
        create_revision: row.get(2)?,
        value: row.get(3)?,
    })
}

/// Rows fetched for a limit: one extra tells whether more follow.
fn fetch_limit(limit: Option<usize>) -> i64 {
    match limit {
        Some(n) if n > 0 => i64::try_from(n).unwrap_or(i64::MAX).saturating_add(1),
        _ => -1,
    }
}

pub(super) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kv.name, kv.id, kv.create_revision, kv.value
         FROM current JOIN kv ON kv.id = current.id
         WHERE current.name = ?1",
    )?;
    let mut rows = stmt.query_map(params![key.as_bytes()], key_value)?;
    Ok(rows.next().transpose()?)
}

pub(super) fn count(conn: &Connection, prefix: &str) -> Result<i64> {
    let mut stmt =
        conn.prepare_cached("SELECT COUNT(*) FROM current WHERE name >= ?1 AND name < ?2")?;
    let count = stmt.query_row(params![prefix.as_bytes(), range_end(prefix)], |row| {
        row.get(0)
    })?;
    Ok(count)
}

pub(super) fn list(conn: &Connection, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
    let tx = conn.unchecked_transaction()?;
    let current = load_revision(&tx)?;
    let requested = opts.revision.filter(|r| *r > 0);
    if let Some(requested) = requested {
        let compacted = load_compacted(&tx)?;
        if requested < compacted {
            return Err(StoreError::Compacted {
                requested,
                compacted,
            });
        }
        if requested > current {
            return Err(StoreError::FutureRevision { requested, current });
        }
    }
    let revision = requested.unwrap_or(current);
    let start = range_start(prefix, opts.start_after.as_deref());
    let end = range_end(prefix);
    let fetch = fetch_limit(opts.limit);

    let mut items = if revision == current {
        // The live state: one index range over `current`.
        let mut stmt = tx.prepare_cached(
            "SELECT kv.name, kv.id, kv.create_revision, kv.value
             FROM current JOIN kv ON kv.id = current.id
             WHERE current.name >= ?1 AND current.name < ?2
             ORDER BY current.name LIMIT ?3",
        )?;
        stmt.query_map(params![start, end, fetch], key_value)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        // An older state: the newest row per key at or before `revision`,
        // walking the (name, id) index in key order so LIMIT stops early.
        let mut stmt = tx.prepare_cached(
            "SELECT kv.name, kv.id, kv.create_revision, kv.value FROM kv
             WHERE kv.name >= ?1 AND kv.name < ?2 AND kv.deleted = 0
               AND kv.id = (SELECT MAX(newer.id) FROM kv AS newer
                            WHERE newer.name = kv.name AND newer.id <= ?3)
             ORDER BY kv.name LIMIT ?4",
        )?;
        stmt.query_map(params![start, end, revision, fetch], key_value)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let more = fetch > 0 && items.len() as i64 == fetch;
    if more {
        items.pop();
    }
    Ok(ListResult {
        items,
        revision,
        more,
    })
}

/// Changes under a prefix after a revision, one page at a time.
pub(super) struct HistoryPage {
    pub events: Vec<WatchEvent>,
    /// Every change under the prefix up to this revision is in `events` or
    /// earlier pages.
    pub cursor: Revision,
    /// The page reached the newest revision of its snapshot.
    pub complete: bool,
}

/// How much one history page may hold: at most `rows` events, and it stops
/// after the event that crosses `bytes` of values.
#[derive(Clone, Copy)]
pub(super) struct PageSize {
    pub rows: usize,
    pub bytes: usize,
}

fn watch_event(row: &Row<'_>) -> rusqlite::Result<WatchEvent> {
    let created: bool = row.get(4)?;
    let deleted: bool = row.get(5)?;
    let event_type = if deleted {
        EventType::Deleted
    } else if created {
        EventType::Added
    } else {
        EventType::Modified
    };
    Ok(WatchEvent {
        event_type,
        kv: key_value(row)?,
    })
}

pub(super) fn history(
    conn: &Connection,
    prefix: &str,
    after: Revision,
    size: PageSize,
) -> Result<HistoryPage> {
    let tx = conn.unchecked_transaction()?;
    let compacted = load_compacted(&tx)?;
    if after.saturating_add(1) < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    let newest = load_revision(&tx)?;
    let mut stmt = tx.prepare_cached(
        "SELECT name, id, create_revision, value, created, deleted FROM kv
         WHERE id > ?1 AND id <= ?2 AND name >= ?3 AND name < ?4
         ORDER BY id LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            after,
            newest,
            prefix.as_bytes(),
            range_end(prefix),
            i64::try_from(size.rows).unwrap_or(i64::MAX)
        ],
        watch_event,
    )?;
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut complete = true;
    for event in rows {
        let event = event?;
        bytes += event.kv.value.len();
        events.push(event);
        if events.len() == size.rows || bytes >= size.bytes {
            complete = false;
            break;
        }
    }
    let cursor = match events.last() {
        Some(last) if !complete => last.kv.mod_revision,
        _ => newest.max(after),
    };
    Ok(HistoryPage {
        events,
        cursor,
        complete,
    })
}
