//! The API server's `/metrics` read back for benchmarks: what requests (by
//! verb and resource) and store operations a phase cost, and how long they
//! took on average, from two scrapes.

use std::collections::BTreeMap;

/// One scrape: every sample by its full series name (`name{labels}`).
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    samples: BTreeMap<String, f64>,
}

/// Requests (or store operations) of one kind between two scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// `verb resource` (or the store operation).
    pub name: String,
    pub count: f64,
    /// Mean latency in seconds.
    pub mean_seconds: f64,
}

impl Scrape {
    /// Parses the Prometheus text format (comments and malformed lines skipped).
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_string(), value.parse().ok()?))
            })
            .collect();
        Scrape { samples }
    }

    /// `GET {base_url}/metrics`.
    pub async fn fetch(http: &reqwest::Client, base_url: &str) -> anyhow::Result<Scrape> {
        let text = http
            .get(format!("{base_url}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(Scrape::parse(&text))
    }

    /// What a histogram family (`prefix_sum` / `prefix_count` series) counted
    /// since `before`, by the values of `labels` joined with spaces, busiest first.
    pub fn activity_since(&self, before: &Scrape, prefix: &str, labels: &[&str]) -> Vec<Activity> {
        let count_prefix = format!("{prefix}_count{{");
        let mut out: Vec<Activity> = self
            .samples
            .iter()
            .filter(|(series, _)| series.starts_with(&count_prefix))
            .filter_map(|(series, count)| {
                let label_part = &series[count_prefix.len() - 1..];
                let sum_series = format!("{prefix}_sum{label_part}");
                let delta = |m: &Scrape, s: &str| m.samples.get(s).copied().unwrap_or(0.0);
                let count = count - delta(before, series);
                if count <= 0.0 {
                    return None;
                }
                let sum = delta(self, &sum_series) - delta(before, &sum_series);
                let name = labels
                    .iter()
                    .filter_map(|l| label_value(label_part, l))
                    .collect::<Vec<_>>()
                    .join(" ");
                Some(Activity {
                    name,
                    count,
                    mean_seconds: sum / count,
                })
            })
            .collect();
        out.sort_by(|a, b| b.count.total_cmp(&a.count));
        out
    }
}

/// The value of `label` in a `{a="x",b="y"}` label set.
fn label_value<'a>(labels: &'a str, label: &str) -> Option<&'a str> {
    let key = format!("{label}=\"");
    let start = labels.find(&key)? + key.len();
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP apiserver_request_duration_seconds Request latency
apiserver_request_duration_seconds_sum{verb="POST",resource="pods"} 1.0
apiserver_request_duration_seconds_count{verb="POST",resource="pods"} 10
apiserver_request_duration_seconds_bucket{le="0.001",verb="POST",resource="pods"} 3
"#;
    const AFTER: &str = r#"apiserver_request_duration_seconds_sum{verb="POST",resource="pods"} 3.0
apiserver_request_duration_seconds_count{verb="POST",resource="pods"} 30
apiserver_request_duration_seconds_sum{verb="PUT",resource="pods/status"} 0.5
apiserver_request_duration_seconds_count{verb="PUT",resource="pods/status"} 50
apiserver_request_duration_seconds_sum{verb="GET",resource="nodes"} 0.1
apiserver_request_duration_seconds_count{verb="GET",resource="nodes"} 0
"#;

    #[test]
    fn activity_is_the_difference_of_two_scrapes_busiest_first() {
        let before = Scrape::parse(BEFORE);
        let after = Scrape::parse(AFTER);
        let rows = after.activity_since(
            &before,
            "apiserver_request_duration_seconds",
            &["verb", "resource"],
        );
        assert_eq!(
            rows,
            vec![
                Activity {
                    name: "PUT pods/status".into(),
                    count: 50.0,
                    mean_seconds: 0.01
                },
                Activity {
                    name: "POST pods".into(),
                    count: 20.0,
                    mean_seconds: 0.1
                },
            ]
        );
    }

    #[test]
    fn label_values_are_found_by_name() {
        let labels = r#"{verb="GET",resource="pods"}"#;
        assert_eq!(label_value(labels, "resource"), Some("pods"));
        assert_eq!(label_value(labels, "verb"), Some("GET"));
        assert_eq!(label_value(labels, "code"), None);
    }
}
