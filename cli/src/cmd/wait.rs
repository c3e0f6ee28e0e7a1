//! Waiting for deleted objects to be gone, as `kubectl delete` does: a GET
//! that answers 404 ends the wait; otherwise a watch on the object's name
//! (re-checked with a GET every few seconds in case an event is missed).

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use skiff_api::ResourceType;
use skiff_client::{Client, DynamicApi, ListParams, WatchEvent};

use crate::errors::{CliError, CliResult, describe_client_error};

/// How long one watch runs before the object is checked with a GET again.
const RECHECK: Duration = Duration::from_secs(2);

/// An object that was deleted and may not be gone yet.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: String,
    /// The deleted object's uid: a new object of the same name does not count.
    pub uid: Option<String>,
}

/// `30s`, `2m`, `1h30m`, `500ms`, `0` (Go durations; a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let seconds = match &after[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            unit => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        total += Duration::from_secs_f64(seconds);
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// Waits until every object in `deleted` is gone; `timeout` zero means no limit.
pub async fn wait_all(client: &Client, deleted: &[Deleted], timeout: Duration) -> CliResult {
    let deadline = tokio::time::Instant::now() + timeout;
    for d in deleted {
        let wait = wait_one(client, d);
        if timeout.is_zero() {
            wait.await?;
        } else {
            match tokio::time::timeout_at(deadline, wait).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(CliError::msg(format!(
                        "timed out waiting for the condition on {}/{}",
                        d.rt.plural, d.name
                    )));
                }
            }
        }
    }
    Ok(())
}

async fn wait_one(client: &Client, d: &Deleted) -> CliResult {
    let api = DynamicApi::namespaced(
        client.clone(),
        d.rt,
        d.namespace.as_deref().unwrap_or_default(),
    );
    let lp = ListParams::default().fields(&format!("metadata.name={}", d.name));
    loop {
        let current = api
            .get_opt(&d.name)
            .await
            .map_err(|e| CliError::Raw(describe_client_error(&e, None)))?;
        let Some(current) = current else {
            return Ok(());
        };
        let uid = current.pointer("/metadata/uid").and_then(Value::as_str);
        if d.uid.is_some() && uid != d.uid.as_deref() {
            return Ok(());
        }
        let rv = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // A watch error (unsupported selector, compaction) falls back to polling.
        if let Ok(mut stream) = api.watch(&lp, &rv).await {
            let deleted = tokio::time::timeout(RECHECK, async {
                while let Some(ev) = stream.next().await {
                    if let Ok(WatchEvent::Deleted(o)) = ev
                        && o.pointer("/metadata/name").and_then(Value::as_str) == Some(&d.name)
                    {
                        return true;
                    }
                }
                false
            })
            .await;
            if deleted == Ok(true) {
                return Ok(());
            }
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }
}
