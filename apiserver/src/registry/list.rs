//! Lists: filtered server-side, paginated with `limit` + `continue` (every
//! page read at the revision of the first), or a point read when the field
//! selector pins the name.

use serde_json::Value;
use skiff_api::{ResourceType, Status};
use skiff_store::{ListOptions, Revision, StoreError};

use super::{Registry, decode};
use crate::continue_token::ContinueToken;
use crate::errors::plain_store_error;
use crate::filter::Filter;

/// How many keys one store read fetches while filling a filtered page.
const SCAN_CHUNK: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filter: Filter,
    /// Read at exactly this revision (`resourceVersionMatch=Exact`).
    pub revision: Option<Revision>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub revision: Revision,
    pub continue_token: Option<String>,
}

/// 410 for a continue token whose revision was compacted.
fn expired_continue() -> Status {
    let mut s = Status::gone(
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter, or use the continue token \
         in this response to retrieve the remainder of the results. Continuing with the \
         provided token results in an inconsistent list - objects that were created, \
         modified, or deleted between the time the first chunk was returned and now may \
         show up in the list.",
    );
    s.reason = "Expired".into();
    s
}

impl Registry {
    pub async fn list(&self, rt: &ResourceType, req: &ListRequest) -> Result<ListPage, Status> {
        let prefix = req.filter.storage_prefix(rt);
        if let (Some(name), None) = (req.filter.fields.required_name(), &req.continue_token) {
            if rt.namespaced && req.filter.effective_namespace().is_none() {
                // A name without a namespace: scan, the name may be in any.
            } else {
                return self.point_list(rt, req, name).await;
            }
        }
        let (mut revision, mut start_after) = match &req.continue_token {
            Some(token) => {
                let t = ContinueToken::decode(token, &rt.storage_prefix())?;
                let revision = (t.revision > 0).then_some(t.revision);
                (revision, Some(t.start_after))
            }
            None => (req.revision, None),
        };
        let continuing = req.continue_token.is_some();
        let mut items = Vec::new();
        loop {
            let want = req.limit.map(|l| l.saturating_sub(items.len()));
            let chunk = match want {
                Some(w) if req.filter.labels.is_empty() && req.filter.fields.is_empty() => w,
                _ => SCAN_CHUNK,
            };
            let opts = ListOptions {
                revision,
                limit: Some(chunk.max(1)),
                start_after: start_after.clone(),
            };
            let page = self.store.list(&prefix, &opts).await.map_err(|e| match e {
                StoreError::Compacted { .. } if continuing => expired_continue(),
                other => plain_store_error(other),
            })?;
            revision = Some(page.revision);
            let count = page.items.len();
            for (i, kv) in page.items.iter().enumerate() {
                let object = decode(kv)?;
                if !req.filter.matches(&object) {
                    continue;
                }
                items.push(object);
                if req.limit.is_some_and(|l| items.len() >= l) {
                    let more = page.more || i + 1 < count;
                    let token =
                        more.then(|| ContinueToken::new(page.revision, kv.key.clone()).encode());
                    return Ok(ListPage {
                        items,
                        revision: page.revision,
                        continue_token: token,
                    });
                }
            }
            if !page.more || count == 0 {
                return Ok(ListPage {
                    items,
                    revision: page.revision,
                    continue_token: None,
                });
            }
            start_after = page.items.last().map(|kv| kv.key.clone());
        }
    }

    /// `fieldSelector=metadata.name=x`: one get, filtered like a list.
    async fn point_list(
        &self,
        rt: &ResourceType,
        req: &ListRequest,
        name: &str,
    ) -> Result<ListPage, Status> {
        if req.revision.is_some() {
            // A read at an exact revision needs the store's history: scan.
            let opts = ListOptions {
                revision: req.revision,
                ..Default::default()
            };
            let key = rt.storage_key(req.filter.effective_namespace(), name);
            let page = self
                .store
                .list(&key, &opts)
                .await
                .map_err(plain_store_error)?;
            let items = page
                .items
                .iter()
                .filter(|kv| kv.key == key)
                .map(decode)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|o| req.filter.matches(o))
                .collect();
            return Ok(ListPage {
                items,
                revision: page.revision,
                continue_token: None,
            });
        }
        // Read the revision first: the object read after it is at least as new.
        let revision = self
            .store
            .current_revision()
            .await
            .map_err(plain_store_error)?;
        let found = self
            .try_get(rt, req.filter.effective_namespace(), name)
            .await?;
        let revision = found
            .as_ref()
            .map_or(revision, |s| s.revision.max(revision));
        let items = found
            .map(|s| s.object)
            .filter(|o| req.filter.matches(o))
            .into_iter()
            .collect();
        Ok(ListPage {
            items,
            revision,
            continue_token: None,
        })
    }
}
