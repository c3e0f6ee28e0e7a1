//! Label and field selectors: the `?labelSelector=` / `?fieldSelector=`
//! query parameters of lists and watches, and the metav1 `LabelSelector`
//! objects inside Deployments, ReplicaSets, Jobs, ...

mod field;
mod label;
mod label_parse;
mod label_validate;

pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// Why a selector could not be built. Turns into a 400 BadRequest
/// [`Status`](crate::status::Status) with the same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
}

impl SelectorError {
    pub(crate) fn new(message: impl Into<String>) -> SelectorError {
        SelectorError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SelectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SelectorError {}

impl From<SelectorError> for crate::status::Status {
    fn from(e: SelectorError) -> Self {
        crate::status::Status::bad_request(e.message)
    }
}
