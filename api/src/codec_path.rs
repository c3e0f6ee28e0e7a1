//! Renders serde_ignored paths the way Kubernetes names fields:
//! `spec.template.spec.containers[0].foo`.

use serde_ignored::Path;

pub fn render(path: &Path<'_>) -> String {
    let mut out = String::new();
    write(path, &mut out);
    out
}

fn write(path: &Path<'_>, out: &mut String) {
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            write(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        Path::Map { parent, key } => {
            write(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => write(parent, out),
    }
}
