//! Reading manifests for `apply -f` and `delete -f`: files, directories
//! (`-R` to recurse) and stdin (`-`), multi-document YAML or JSON, `List`
//! objects expanded. Errors name the file and the line:column.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// One object read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file as the user named it (`STDIN` for `-`).
    pub source: String,
    pub object: Value,
}

/// Everything read from `-f` arguments, and what could not be read.
#[derive(Debug, Default)]
pub struct Manifests {
    pub documents: Vec<Document>,
    /// Full messages, without the `error: ` prefix.
    pub errors: Vec<String>,
}

/// Reads every `-f` argument, in order. `stdin` is consulted for `-`.
pub fn read_all(args: &[String], recursive: bool, stdin: &mut dyn Read) -> Manifests {
    let mut out = Manifests::default();
    for arg in args {
        if arg == "-" {
            let mut text = String::new();
            match stdin.read_to_string(&mut text) {
                Ok(_) => parse_into(&text, "STDIN", &mut out),
                Err(e) => out.errors.push(format!("reading STDIN: {e}")),
            }
            continue;
        }
        if arg.starts_with("http://") || arg.starts_with("https://") {
            out.errors.push(format!(
                "reading manifests from URLs is not supported: {arg}"
            ));
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            read_dir(path, recursive, &mut out);
        } else if path.exists() {
            read_file(path, arg, &mut out);
        } else {
            out.errors
                .push(format!("the path \"{arg}\" does not exist"));
        }
    }
    out
}

fn read_dir(dir: &Path, recursive: bool, out: &mut Manifests) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => {
            out.errors
                .push(format!("error reading {}: {e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                read_dir(&path, recursive, out);
            }
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if matches!(ext, "yaml" | "yml" | "json") {
            let name = path.display().to_string();
            read_file(&path, &name, out);
        }
    }
}

fn read_file(path: &Path, name: &str, out: &mut Manifests) {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_into(&text, name, out),
        Err(e) => out.errors.push(format!("error reading {name}: {e}")),
    }
}

/// Parses one file's text: a JSON stream when it starts with `{`, else
/// multi-document YAML.
pub fn parse_into(text: &str, source: &str, out: &mut Manifests) {
    let values = if text.trim_start().starts_with('{') {
        parse_json(text)
    } else {
        parse_yaml(text)
    };
    match values {
        Ok(values) => {
            for v in values {
                push_object(v, source, out);
            }
        }
        Err(e) => out.errors.push(format!("error parsing {source}: {e}")),
    }
}

fn push_object(v: Value, source: &str, out: &mut Manifests) {
    match v {
        Value::Null => {}
        Value::Object(ref m) if is_list(m) => {
            if let Some(Value::Array(items)) = m.get("items") {
                for item in items.clone() {
                    push_object(item, source, out);
                }
            }
        }
        Value::Object(_) => out.documents.push(Document {
            source: source.to_string(),
            object: v,
        }),
        other => out.errors.push(format!(
            "error parsing {source}: a manifest must be an object, not {}",
            type_name(&other)
        )),
    }
}

/// `kind: List` (or `PodList`, ...) with `items`: kubectl applies each item.
fn is_list(m: &serde_json::Map<String, Value>) -> bool {
    m.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && m.get("items").is_some_and(Value::is_array)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn parse_json(text: &str) -> Result<Vec<Value>, String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|r| {
            r.map_err(|e| {
                format!(
                    "line {} column {}: {}",
                    e.line(),
                    e.column(),
                    json_reason(&e)
                )
            })
        })
        .collect()
}

/// serde_json's message without its own ` at line X column Y` suffix.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn parse_yaml(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| {
        let opts = serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        };
        let message = strip_location(&e.render_with_options(opts));
        match e.location() {
            Some(loc) => format!("line {} column {}: {message}", loc.line(), loc.column()),
            None => message,
        }
    })
}

/// The plain rendering ends with the location, which we print first instead.
fn strip_location(message: &str) -> String {
    let m = message.trim();
    for marker in [" at line ", " at position ", " (line "] {
        if let Some(i) = m.rfind(marker) {
            return m[..i].trim_end_matches([',', ':']).to_string();
        }
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Manifests {
        let mut m = Manifests::default();
        parse_into(text, "f.yaml", &mut m);
        m
    }

    #[test]
    fn multi_document_yaml_skips_empty_documents() {
        let m = parse(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n",
        );
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        assert_eq!(m.documents.len(), 2);
        assert_eq!(m.documents[1].object["kind"], "Pod");
        assert_eq!(m.documents[0].source, "f.yaml");
    }

    #[test]
    fn lists_are_expanded() {
        let m = parse(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\n",
        );
        assert_eq!(m.documents.len(), 2);
    }

    #[test]
    fn json_streams() {
        let m = parse(
            "{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}\n{\"kind\":\"Service\",\"apiVersion\":\"v1\"}",
        );
        assert_eq!(m.documents.len(), 2);
        let bad = parse("{\"kind\":\n\"Pod\",,}");
        assert_eq!(bad.errors.len(), 1);
        assert!(
            bad.errors[0].starts_with("error parsing f.yaml: line 2 column 7: "),
            "{:?}",
            bad.errors
        );
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let m = parse("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a\n");
        assert_eq!(m.errors.len(), 1, "{:?}", m.documents);
        assert!(
            m.errors[0].starts_with("error parsing f.yaml: line "),
            "{}",
            m.errors[0]
        );
        let m = parse("a: 1\n b: 2\n");
        assert!(m.errors[0].contains("line 2"), "{}", m.errors[0]);
    }

    #[test]
    fn scalars_are_not_manifests() {
        let m = parse("hello\n");
        assert_eq!(m.errors.len(), 1);
        assert!(m.errors[0].contains("must be an object"));
    }

    #[test]
    fn files_directories_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.path().join("a.yml"), "kind: A\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kind: X\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.json"), "{\"kind\":\"C\"}").unwrap();
        let d = dir.path().display().to_string();
        let kinds = |m: &Manifests| {
            m.documents
                .iter()
                .map(|d| d.object["kind"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let m = read_all(std::slice::from_ref(&d), false, &mut std::io::empty());
        assert_eq!(kinds(&m), vec!["A", "B"]);
        let m = read_all(std::slice::from_ref(&d), true, &mut std::io::empty());
        assert_eq!(kinds(&m), vec!["A", "B", "C"]);
        let mut stdin = "kind: S\n".as_bytes();
        let m = read_all(
            &["-".to_string(), "nope.yaml".to_string()],
            false,
            &mut stdin,
        );
        assert_eq!(kinds(&m), vec!["S"]);
        assert_eq!(m.documents[0].source, "STDIN");
        assert_eq!(m.errors, vec!["the path \"nope.yaml\" does not exist"]);
    }
}
