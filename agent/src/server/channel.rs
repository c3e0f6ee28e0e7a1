//! The Kubernetes remote-command stream protocol over WebSocket
//! (`v4.channel.k8s.io`, `v5.channel.k8s.io`): each binary message is one
//! channel byte followed by that channel's data. Shared by the agent's
//! exec endpoint and by clients (`skiff exec`).

use serde_json::{Value, json};

/// The newest protocol: v4 plus a close signal for stdin.
pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
/// What the agent accepts, best first.
pub const PROTOCOLS: [&str; 2] = [V5, V4];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Server to client, once: the exit as a `Status` JSON.
pub const ERROR: u8 = 3;
/// Client to server: `{"Width":80,"Height":24}`.
pub const RESIZE: u8 = 4;
/// v5, client to server: `[255, channel]`: that channel's input ended.
pub const CLOSE: u8 = 255;

/// `channel` + `data`, as one message payload.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// The channel-3 status for an exit code: `Success`, or `Failure` with
/// reason `NonZeroExitCode` and the code as the `ExitCode` cause.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command, exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The channel-3 status for an exec that failed without an exit code.
pub fn failure_status(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"})
}

/// What a client makes of a channel-3 status: the exit code, or the
/// error message when the command did not run.
pub fn parse_status(payload: &[u8]) -> Result<i32, String> {
    let status: Value = serde_json::from_slice(payload).map_err(|e| {
        format!(
            "undecodable exec status ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    })?;
    if status.get("status").and_then(Value::as_str) == Some("Success") {
        return Ok(0);
    }
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("exec failed")
        .to_string();
    if status.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") {
        let code = status
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
            .and_then(|c| c.get("message").and_then(Value::as_str))
            .and_then(|m| m.parse::<i32>().ok());
        return code.ok_or(message);
    }
    Err(message)
}

/// A resize message's terminal size.
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let w = v.get("Width")?.as_u64()?;
    let h = v.get("Height")?.as_u64()?;
    Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_round_trip() {
        for code in [0, 3, 127] {
            let s = serde_json::to_vec(&exit_status(code)).unwrap();
            assert_eq!(parse_status(&s), Ok(code));
        }
        let f = serde_json::to_vec(&failure_status("no such container")).unwrap();
        assert_eq!(parse_status(&f), Err("no such container".to_string()));
        assert!(parse_status(b"nope").unwrap_err().contains("undecodable"));
    }

    #[test]
    fn frames_and_resizes() {
        assert_eq!(frame(STDOUT, b"hi"), [1, b'h', b'i']);
        assert_eq!(parse_resize(br#"{"Width":80,"Height":24}"#), Some((80, 24)));
        assert_eq!(parse_resize(br#"{"Width":-1,"Height":24}"#), None);
    }
}
