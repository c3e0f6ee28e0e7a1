//! What can go wrong talking to an API server, kept apart so that callers
//! (the CLI above all) can word each case the way kubectl does.

use skiff_api::Status;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error; the body was (or was turned into) a `Status`.
    #[error("{0}")]
    Api(Box<Status>),
    /// The request never got an answer: connection refused, TLS failure, broken stream.
    #[error("{message}")]
    Transport {
        message: String,
        /// The server could not be reached at all (refused, no route), as
        /// opposed to a failure in the middle of an exchange.
        connect: bool,
        /// `host:port` of the server the request was for.
        server: String,
    },
    /// A 2xx answer that is not what was asked for (bad JSON, wrong shape).
    #[error("{0}")]
    Decode(String),
    /// The kubeconfig (or what it points at) cannot be used.
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The server's `Status`, when the server answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// 404 from the server.
    pub fn is_not_found(&self) -> bool {
        self.status().is_some_and(Status::is_not_found)
    }

    /// 409 Conflict (stale `resourceVersion`), not AlreadyExists.
    pub fn is_conflict(&self) -> bool {
        self.status().is_some_and(Status::is_conflict)
    }

    /// 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(Status::is_already_exists)
    }

    /// 410 Gone: a watch or list from a compacted resourceVersion.
    pub fn is_gone(&self) -> bool {
        self.status().is_some_and(|s| s.code == 410)
    }

    pub(crate) fn transport(err: reqwest::Error, server: &str) -> Error {
        // reqwest's Display hides the cause ("error sending request"); walk the chain.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Error::Transport {
            message,
            connect: err.is_connect(),
            server: server.to_string(),
        }
    }

    pub(crate) fn decode(what: &str, err: impl std::fmt::Display) -> Error {
        Error::Decode(format!("decoding {what}: {err}"))
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Error {
        Error::Api(Box::new(s))
    }
}
