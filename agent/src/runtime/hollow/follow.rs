//! `logs --follow` of a hollow container: what it "printed" so far, then
//! its exit line once it exits (checked every few milliseconds while the
//! stream is open), then the end of the stream, as a real container's log
//! ends when it exits.

use std::time::Duration;

use super::{HollowRuntime, hollow_log};
use crate::runtime::{ContainerId, ContainerInfo, LogOptions, LogStream};

const POLL: Duration = Duration::from_millis(20);

pub fn follow(
    runtime: HollowRuntime,
    id: ContainerId,
    info: ContainerInfo,
    options: LogOptions,
) -> LogStream {
    let first = hollow_log(&info, &options).into_bytes();
    let sent = first.len();
    // What later chunks are cut from: every line, no tail, no limit.
    let whole = LogOptions {
        tail_lines: None,
        limit_bytes: None,
        follow: false,
        ..options.clone()
    };
    let seen = hollow_log(&info, &whole);
    let done = info.state.is_exited() || options.limit_bytes.is_some_and(|l| sent >= l);
    let rest = futures::stream::unfold((done, seen, sent), move |(done, seen, sent)| {
        let (runtime, id, whole, limit) = (
            runtime.clone(),
            id.clone(),
            whole.clone(),
            options.limit_bytes,
        );
        async move {
            if done {
                return None;
            }
            loop {
                tokio::time::sleep(POLL).await;
                let now = runtime.lock().containers.get(&id).map(|c| c.info.clone());
                let Some(now) = now else {
                    // Removed: nothing more will be written.
                    return None;
                };
                if !now.state.is_exited() {
                    continue;
                }
                let text = hollow_log(&now, &whole);
                let mut new = text
                    .strip_prefix(seen.as_str())
                    .unwrap_or(&text)
                    .as_bytes()
                    .to_vec();
                if let Some(limit) = limit {
                    new.truncate(limit.saturating_sub(sent));
                }
                return Some((Ok(new), (true, text, sent)));
            }
        }
    });
    use futures::StreamExt;
    Box::pin(futures::stream::iter([Ok(first)]).chain(rest))
}
