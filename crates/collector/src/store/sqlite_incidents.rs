//! SQLite's incidents: each kept as the detector's JSON document of it, with the columns the
//! filters and the order need beside it (docs/protocol.md §4.6). Run on the read pool's
//! connections; the upsert is one statement per incident, so it never waits on the writer long.

use super::{Incident, IncidentFilter, StoreError};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};

/// Inserts or replaces incidents by id.
pub(super) fn upsert(conn: &Connection, incidents: &[Incident]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO incidents (id, platform, country, asn, started, ended, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET asn = excluded.asn, started = excluded.started, ended = excluded.ended, doc = excluded.doc",
    )?;
    for i in incidents {
        let doc = serde_json::to_string(i).expect("incidents serialize");
        stmt.execute(params![i.id, i.platform.as_str(), i.country.as_str(), i.asn, i.start_minute, i.end_minute, doc])?;
    }
    Ok(())
}

/// Incidents matching the filter, newest start first.
pub(super) fn read(conn: &Connection, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
    let mut sql = String::from("SELECT doc, started, ended FROM incidents WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    super::sqlite_read::only_cell(&mut sql, &mut args, f.platform.as_ref(), f.country.as_ref());
    if f.open_only {
        sql.push_str(" AND ended IS NULL");
    }
    sql.push_str(" ORDER BY started DESC, id LIMIT ?");
    args.push(Value::Integer(f.limit.max(1) as i64));
    let read = StoreError::read("read");
    let mut stmt = conn.prepare_cached(&sql).map_err(&read)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))).map_err(&read)?;
    rows.map(|row| {
        let (doc, start_minute, end_minute) = row.map_err(&read)?;
        Ok(Incident { start_minute, end_minute, ..super::incident_doc(&doc)? })
    })
    .collect()
}
