//! Errors as kubectl words them. A command fails with a [`CliError`]; `main`
//! prints it and exits 1. Server errors go through [`describe_client_error`],
//! which follows kubectl's `StandardErrorMessage`.

use skiff_api::Status;
use skiff_api::status::StatusCause;
use skiff_client::Error as ClientError;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Printed as `error: <text>`.
    Message(String),
    /// Printed as is (already in kubectl's words, e.g. `Error from server (...)`).
    Raw(String),
    /// Already printed; only the exit code is left.
    Reported,
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn msg(text: impl Into<String>) -> CliError {
        CliError::Message(text.into())
    }

    /// The text to print on stderr, without a trailing newline.
    pub fn render(&self) -> Option<String> {
        match self {
            CliError::Message(m) => Some(format!("error: {m}")),
            CliError::Raw(r) => Some(r.trim_end_matches('\n').to_string()),
            CliError::Reported => None,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        CliError::Raw(describe_client_error(&e, None))
    }
}

/// What a request was doing with which file, for kubectl's
/// `error when creating "deploy.yaml": ...` wording.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// `creating`, `deleting`, `patching`, `retrieving current configuration of`.
    pub verb: &'a str,
    /// The file the object came from (`STDIN` for `-`).
    pub file: &'a str,
}

/// The full line(s) kubectl would print for `e`.
pub fn describe_client_error(e: &ClientError, source: Option<Source<'_>>) -> String {
    match e {
        ClientError::Api(status) => describe_status(status, source),
        ClientError::Transport {
            connect: true,
            server,
            ..
        } => format!(
            "The connection to the server {server} was refused - did you specify the right host or port?"
        ),
        ClientError::Transport { message, .. } => {
            format!("Unable to connect to the server: {message}")
        }
        ClientError::Decode(m) | ClientError::Config(m) => format!("error: {m}"),
    }
}

/// kubectl's rendering of a `Status`: the Invalid form built from the
/// details, `Error from server (Reason): message` otherwise.
pub fn describe_status(status: &Status, source: Option<Source<'_>>) -> String {
    if status.reason == "Invalid" {
        if let Some(text) = describe_invalid(status) {
            return text;
        }
        let msg = with_source(&status.message, source);
        return format!("The request is invalid: {msg}");
    }
    let msg = with_source(&status.message, source);
    match status.reason.as_str() {
        "Unauthorized" => format!("error: You must be logged in to the server ({msg})"),
        "" => format!("Error from server: {msg}"),
        reason => format!("Error from server ({reason}): {msg}"),
    }
}

fn with_source(message: &str, source: Option<Source<'_>>) -> String {
    match source {
        Some(s) => format!("error when {} \"{}\": {message}", s.verb, s.file),
        None => message.to_string(),
    }
}

/// `The Deployment "bad" is invalid: spec.replicas: ...`; several causes
/// go on their own `* ` lines.
fn describe_invalid(status: &Status) -> Option<String> {
    let details = status.details.as_ref()?;
    let mut head = "The request is invalid".to_string();
    if !details.kind.is_empty() || !details.name.is_empty() {
        head = format!("The {} \"{}\" is invalid", details.kind, details.name);
    }
    let causes: Vec<String> = details.causes.iter().map(StatusCause::summary).collect();
    Some(match causes.len() {
        0 => head,
        1 => format!("{head}: {}", causes[0]),
        _ => {
            let mut s = format!("{head}: ");
            for c in causes {
                s.push_str("\n* ");
                s.push_str(&c);
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::status::{StatusCause, StatusDetails};

    fn status(reason: &str, message: &str) -> Status {
        serde_json::from_value(serde_json::json!({
            "kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": 404
        }))
        .unwrap()
    }

    #[test]
    fn not_found_and_source() {
        let s = status("NotFound", "deployments.apps \"x\" not found");
        assert_eq!(
            describe_status(&s, None),
            "Error from server (NotFound): deployments.apps \"x\" not found"
        );
        let src = Source {
            verb: "deleting",
            file: "d.yaml",
        };
        assert_eq!(
            describe_status(&s, Some(src)),
            "Error from server (NotFound): error when deleting \"d.yaml\": deployments.apps \"x\" not found"
        );
        assert_eq!(
            describe_status(&status("", "boom"), None),
            "Error from server: boom"
        );
    }

    #[test]
    fn invalid_uses_the_details() {
        let mut s = status("Invalid", "ignored");
        s.details = Some(StatusDetails {
            name: "bad".into(),
            kind: "Deployment".into(),
            causes: vec![StatusCause {
                field: "spec.replicas".into(),
                message: "Invalid value: -1: must be greater than or equal to 0".into(),
                reason: "FieldValueInvalid".into(),
            }],
            ..Default::default()
        });
        assert_eq!(
            describe_status(&s, None),
            "The Deployment \"bad\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        if let Some(d) = s.details.as_mut() {
            d.causes.push(StatusCause {
                field: "metadata.name".into(),
                message: "Required value".into(),
                reason: String::new(),
            });
        }
        assert_eq!(
            describe_status(&s, None),
            "The Deployment \"bad\" is invalid: \n* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n* metadata.name: Required value"
        );
    }

    #[test]
    fn connection_refused_reads_like_kubectl() {
        let e = ClientError::Transport {
            message: "x".into(),
            connect: true,
            server: "127.0.0.1:6443".into(),
        };
        assert_eq!(
            describe_client_error(&e, None),
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
        );
    }
}
