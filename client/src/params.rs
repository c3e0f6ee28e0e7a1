//! Request options: list/watch selectors, write options, delete options and
//! the three patch flavours, each rendered the way kubectl sends them.

use serde_json::{Map, Value, json};

/// Options of a list (and of the watch that follows it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    /// `app=nginx,tier!=db`, `env in (a,b)`, `!legacy`.
    pub label_selector: Option<String>,
    /// `metadata.name=x`, `spec.nodeName=n1`.
    pub field_selector: Option<String>,
    /// Page size; the server then answers with a `continue` token.
    pub limit: Option<u32>,
    pub continue_token: Option<String>,
    /// Watches only: the server ends the stream after this long.
    pub timeout_seconds: Option<u32>,
    /// Watches only: ask for BOOKMARK events.
    pub allow_bookmarks: bool,
}

impl ListParams {
    pub fn labels(mut self, selector: &str) -> ListParams {
        self.label_selector = Some(selector.to_string());
        self
    }

    pub fn fields(mut self, selector: &str) -> ListParams {
        self.field_selector = Some(selector.to_string());
        self
    }

    pub fn limit(mut self, limit: u32) -> ListParams {
        self.limit = Some(limit);
        self
    }

    pub fn timeout(mut self, seconds: u32) -> ListParams {
        self.timeout_seconds = Some(seconds);
        self
    }

    fn selectors(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        if let Some(s) = self.label_selector.as_ref().filter(|s| !s.is_empty()) {
            q.push(("labelSelector".into(), s.clone()));
        }
        if let Some(s) = self.field_selector.as_ref().filter(|s| !s.is_empty()) {
            q.push(("fieldSelector".into(), s.clone()));
        }
        q
    }

    /// Query of a list request.
    pub fn list_query(&self) -> Vec<(String, String)> {
        let mut q = self.selectors();
        if let Some(l) = self.limit {
            q.push(("limit".into(), l.to_string()));
        }
        if let Some(c) = self.continue_token.as_ref().filter(|c| !c.is_empty()) {
            q.push(("continue".into(), c.clone()));
        }
        q
    }

    /// Query of a watch from `resource_version` (empty: from now, with
    /// the server's choice of initial events).
    pub fn watch_query(&self, resource_version: &str) -> Vec<(String, String)> {
        let mut q = self.selectors();
        if self.allow_bookmarks {
            q.push(("allowWatchBookmarks".into(), "true".into()));
        }
        if !resource_version.is_empty() {
            q.push(("resourceVersion".into(), resource_version.to_string()));
        }
        if let Some(t) = self.timeout_seconds {
            q.push(("timeoutSeconds".into(), t.to_string()));
        }
        q.push(("watch".into(), "true".into()));
        q
    }
}

/// Options of create, replace and patch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteParams {
    /// `fieldManager`: who makes the change (`kubectl-client-side-apply`).
    pub field_manager: Option<String>,
    /// `fieldValidation`: `Strict`, `Warn` or `Ignore`.
    pub field_validation: Option<String>,
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
}

impl WriteParams {
    pub fn query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        if self.dry_run {
            q.push(("dryRun".into(), "All".into()));
        }
        if let Some(m) = &self.field_manager {
            q.push(("fieldManager".into(), m.clone()));
        }
        if let Some(v) = &self.field_validation {
            q.push(("fieldValidation".into(), v.clone()));
        }
        q
    }
}

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Delete the owner now, the dependents in the background (the default).
    Background,
    /// Delete the dependents first, then the owner.
    Foreground,
    /// Leave the dependents, without their owner reference.
    Orphan,
}

impl PropagationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Foreground => "Foreground",
            PropagationPolicy::Orphan => "Orphan",
        }
    }
}

/// DeleteOptions, sent as a JSON body without kind/apiVersion like kubectl.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteParams {
    pub propagation_policy: Option<PropagationPolicy>,
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the object still has this resourceVersion.
    pub precondition_resource_version: Option<String>,
    /// Delete only if the object still has this uid.
    pub precondition_uid: Option<String>,
    pub dry_run: bool,
}

impl DeleteParams {
    /// `{"propagationPolicy":"Background"}`: what kubectl sends by default.
    pub fn background() -> DeleteParams {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        }
    }

    /// The body, keys in the order kubectl writes them.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        if self.dry_run {
            m.insert("dryRun".into(), json!(["All"]));
        }
        if let Some(g) = self.grace_period_seconds {
            m.insert("gracePeriodSeconds".into(), json!(g));
        }
        let mut pre = Map::new();
        if let Some(rv) = &self.precondition_resource_version {
            pre.insert("resourceVersion".into(), json!(rv));
        }
        if let Some(uid) = &self.precondition_uid {
            pre.insert("uid".into(), json!(uid));
        }
        if !pre.is_empty() {
            m.insert("preconditions".into(), Value::Object(pre));
        }
        if let Some(p) = self.propagation_policy {
            m.insert("propagationPolicy".into(), json!(p.as_str()));
        }
        Value::Object(m)
    }
}

/// A patch, with the media type that says how the server applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 7386 JSON merge patch (`scale` uses it).
    Merge(Value),
    /// Kubernetes strategic merge patch (`apply` uses it).
    Strategic(Value),
    /// RFC 6902 JSON patch (a list of operations).
    Json(Value),
}

impl Patch {
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
        }
    }

    pub fn body(&self) -> &Value {
        match self {
            Patch::Merge(v) | Patch::Strategic(v) | Patch::Json(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_bodies_match_kubectl() {
        assert_eq!(
            DeleteParams::background().body().to_string(),
            r#"{"propagationPolicy":"Background"}"#
        );
        let force = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::background()
        };
        assert_eq!(
            force.body().to_string(),
            r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#
        );
        assert_eq!(DeleteParams::default().body().to_string(), "{}");
    }

    #[test]
    fn list_and_watch_queries() {
        let lp = ListParams::default().labels("app=nginx").limit(500);
        assert_eq!(
            lp.list_query(),
            vec![
                ("labelSelector".to_string(), "app=nginx".to_string()),
                ("limit".to_string(), "500".to_string())
            ]
        );
        let w = ListParams::default()
            .fields("metadata.name=x")
            .watch_query("42");
        assert_eq!(
            w,
            vec![
                ("fieldSelector".to_string(), "metadata.name=x".to_string()),
                ("resourceVersion".to_string(), "42".to_string()),
                ("watch".to_string(), "true".to_string())
            ]
        );
    }

    #[test]
    fn patch_media_types() {
        assert_eq!(
            Patch::Strategic(json!({})).content_type(),
            "application/strategic-merge-patch+json"
        );
        assert_eq!(
            Patch::Merge(json!({})).content_type(),
            "application/merge-patch+json"
        );
        assert_eq!(
            Patch::Json(json!([])).content_type(),
            "application/json-patch+json"
        );
    }
}
