//! Output: server-side printed Tables laid out like `kubectl get`, and
//! objects as YAML, JSON or names.

pub mod objects;
pub mod table;

/// `-o` values `get` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
}

impl Output {
    pub fn parse(s: Option<&str>) -> Result<Output, String> {
        Ok(match s.unwrap_or_default() {
            "" => Output::Table,
            "wide" => Output::Wide,
            "yaml" => Output::Yaml,
            "json" => Output::Json,
            "name" => Output::Name,
            other => {
                return Err(format!(
                    "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,name,wide,yaml"
                ));
            }
        })
    }

    pub fn is_table(self) -> bool {
        matches!(self, Output::Table | Output::Wide)
    }
}
