//! `skiff apply -f`: client-side apply exactly as kubectl does it. The
//! manifest is recorded in the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation; a missing object is created, an existing one gets the
//! three-way strategic merge patch from (last applied, new manifest, live).

use clap::Args;
use serde_json::{Map, Value, json};
use skiff_api::resource::{self, ResourceType};
use skiff_client::{DynamicApi, Patch, WriteParams};

use crate::context::Ctx;
use crate::errors::{CliError, CliResult, Source, describe_client_error, describe_status};
use crate::manifest::{self, Document};
use crate::{jsonfmt, kinds, output};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const FIELD_MANAGER: &str = "kubectl-client-side-apply";
/// Attempts when the object changes between our GET and our write.
const CONFLICT_RETRIES: usize = 5;

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Manifest file, directory, or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Also read the directories inside directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Unknown fields: `strict` (reject), `warn` or `ignore` (`true`/`false` too).
    #[arg(long, default_value = "strict", value_name = "MODE")]
    pub validate: String,
}

fn field_validation(flag: &str) -> CliResult<&'static str> {
    match flag.to_ascii_lowercase().as_str() {
        "strict" | "true" => Ok("Strict"),
        "warn" => Ok("Warn"),
        "ignore" | "false" => Ok("Ignore"),
        other => Err(CliError::msg(format!(
            "invalid - validate option \"{other}\"; must be one of: strict (or true), warn, ignore (or false)"
        ))),
    }
}

pub async fn run(ctx: &Ctx, args: ApplyArgs) -> CliResult {
    let validation = field_validation(&args.validate)?;
    let read = manifest::read_all(&args.filenames, args.recursive, &mut std::io::stdin());
    if read.documents.is_empty() && read.errors.is_empty() {
        return Err(CliError::msg("no objects passed to apply"));
    }
    let mut errors: Vec<String> = read.errors.iter().map(|e| format!("error: {e}")).collect();
    for doc in &read.documents {
        match apply_one(ctx, doc, validation).await {
            Ok(line) => output::print_line(&line),
            Err(text) => errors.push(text),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        output::eprint_line(&e);
    }
    Err(CliError::Reported)
}

/// What the manifest of one document says, checked and placed in a namespace.
pub struct Target {
    pub rt: &'static ResourceType,
    pub name: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The manifest with `metadata.namespace` set (namespaced kinds) or removed.
    pub object: Value,
}

/// Resolves a manifest's kind, name and namespace, with kubectl's errors.
pub fn target_of(ctx: &Ctx, doc: &Document, verb: &str) -> Result<Target, String> {
    let obj = &doc.object;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let mut missing = Vec::new();
    if api_version.is_empty() {
        missing.push("apiVersion not set");
    }
    if kind.is_empty() {
        missing.push("kind not set");
    }
    if !missing.is_empty() {
        return Err(format!(
            "error: error validating \"{}\": error validating data: [{}]; if you choose to ignore these errors, turn validation off with --validate=false",
            doc.source,
            missing.join(", ")
        ));
    }
    let meta_str = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for field in ["name", "namespace", "generateName"] {
        match obj.pointer(&format!("/metadata/{field}")) {
            None | Some(Value::String(_)) | Some(Value::Null) => {}
            Some(other) => {
                return Err(format!(
                    "error: unable to decode \"{}\": metadata.{field} must be a string, not {other}",
                    doc.source
                ));
            }
        }
    }
    let name = meta_str("name");
    let manifest_ns = meta_str("namespace");
    let Some(rt) = resource::by_kind(&api_version, &kind) else {
        return Err(format!(
            "error: resource mapping not found for name: \"{name}\" namespace: \"{manifest_ns}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
            doc.source
        ));
    };
    if name.is_empty() {
        if !meta_str("generateName").is_empty() {
            return Err(format!(
                "error: from {}: cannot use generate name with {verb}",
                doc.source
            ));
        }
        return Err(format!(
            "error: error when {verb} \"{}\": resource name may not be empty",
            doc.source
        ));
    }
    let mut object = obj.clone();
    let namespace = if rt.namespaced {
        let ns = if manifest_ns.is_empty() {
            ctx.namespace.clone()
        } else if ctx.namespace_explicit && manifest_ns != ctx.namespace {
            return Err(format!(
                "error: the namespace from the provided object \"{manifest_ns}\" does not match the namespace \"{}\". You must pass '--namespace={manifest_ns}' to perform this operation.",
                ctx.namespace
            ));
        } else {
            manifest_ns
        };
        if let Some(meta) = metadata_mut(&mut object) {
            meta.insert("namespace".into(), json!(ns));
        }
        Some(ns)
    } else {
        if let Some(meta) = metadata_mut(&mut object) {
            meta.remove("namespace");
        }
        None
    };
    Ok(Target {
        rt,
        name,
        namespace,
        object,
    })
}

fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    map.entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

/// The annotation's value: the manifest (namespace set, `annotations` present
/// but without this annotation) as sorted compact JSON plus `\n`.
pub fn last_applied_of(manifest: &Value) -> String {
    let mut copy = manifest.clone();
    if let Some(meta) = metadata_mut(&mut copy) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.remove(LAST_APPLIED);
        } else {
            *annotations = json!({});
        }
    }
    let mut s = jsonfmt::compact(&copy);
    s.push('\n');
    s
}

/// The manifest carrying its own last-applied annotation: what is sent.
pub fn with_last_applied(manifest: &Value) -> Value {
    let annotation = last_applied_of(manifest);
    let mut modified = manifest.clone();
    if let Some(meta) = metadata_mut(&mut modified) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        if let Some(a) = annotations.as_object_mut() {
            a.insert(LAST_APPLIED.into(), json!(annotation));
        }
    }
    modified
}

async fn apply_one(ctx: &Ctx, doc: &Document, validation: &str) -> Result<String, String> {
    let target = target_of(ctx, doc, "creating")?;
    let rt = target.rt;
    let display = kinds::object_name(rt, &target.name);
    let modified = with_last_applied(&target.object);
    let api = DynamicApi::namespaced(
        ctx.client.clone(),
        rt,
        target.namespace.as_deref().unwrap_or_default(),
    )
    .with_write_params(WriteParams {
        field_manager: Some(FIELD_MANAGER.into()),
        field_validation: Some(validation.into()),
        dry_run: false,
    });
    let src = |verb| {
        Some(Source {
            verb,
            file: &doc.source,
        })
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let live = api
            .get_opt(&target.name)
            .await
            .map_err(|e| describe_client_error(&e, src("retrieving current configuration of")))?;
        let Some(live) = live else {
            match api.create(&modified).await {
                Ok(_) => return Ok(format!("{display} created")),
                // Someone created it since our GET: apply to theirs.
                Err(e) if e.is_already_exists() && attempt < CONFLICT_RETRIES => continue,
                Err(e) => return Err(describe_client_error(&e, src("creating"))),
            }
        };
        let original = match live.pointer(&format!(
            "/metadata/annotations/{}",
            LAST_APPLIED.replace('/', "~1")
        )) {
            Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
            _ => {
                output::eprint_line(&format!(
                    "Warning: resource {}/{} is missing the {LAST_APPLIED} annotation which is required by skiff apply. skiff apply should only be used on resources created declaratively by either skiff apply or kubectl apply. The missing annotation will be patched automatically.",
                    rt.plural, target.name
                ));
                None
            }
        };
        let patch = skiff_api::patch::three_way_strategic(rt, original.as_ref(), &modified, &live)
            .map_err(|s| describe_status(&s, src("computing the patch for")))?;
        if patch.as_object().is_some_and(Map::is_empty) {
            return Ok(format!("{display} unchanged"));
        }
        match api.patch(&target.name, &Patch::Strategic(patch)).await {
            Ok(_) => return Ok(format!("{display} configured")),
            Err(e) if e.is_conflict() && attempt < CONFLICT_RETRIES => continue,
            Err(e) => return Err(describe_client_error(&e, src("patching"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_matches_kubectl_byte_for_byte() {
        let manifest = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"nginx-deployment","namespace":"default"},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"nginx"}},
                "template":{"metadata":{"labels":{"app":"nginx"}},
                    "spec":{"containers":[{"name":"nginx","image":"nginx:latest","ports":[{"containerPort":80}]}]}}}});
        assert_eq!(
            last_applied_of(&manifest),
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"name\":\"nginx-deployment\",\"namespace\":\"default\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"nginx\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"nginx\"}},\"spec\":{\"containers\":[{\"image\":\"nginx:latest\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":80}]}]}}}}\n"
        );
    }

    #[test]
    fn the_annotation_never_contains_itself() {
        let m = json!({"metadata":{"name":"x","annotations":{"a":"b", LAST_APPLIED: "old"}}});
        let w = with_last_applied(&m);
        let ann = w["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert_eq!(
            ann,
            "{\"metadata\":{\"annotations\":{\"a\":\"b\"},\"name\":\"x\"}}\n"
        );
        assert_eq!(w["metadata"]["annotations"]["a"], "b");
    }

    #[test]
    fn validation_flag() {
        assert_eq!(field_validation("true").unwrap(), "Strict");
        assert_eq!(field_validation("false").unwrap(), "Ignore");
        assert!(field_validation("maybe").is_err());
    }
}
