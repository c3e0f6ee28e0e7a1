//! `skiff image pull REF`: pulls into the store through `skiff_image::Puller`, with mirrors
//! (`--registry-mirror docker.io=http://127.0.0.1:5000`), plain-http registries
//! (`--insecure-registry`) and optional credentials. On a terminal each layer gets a progress
//! bar; otherwise each step is one plain line.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use skiff_image::{Credentials, Digest, ImageStore, PullOptions, PullProgress, Puller, Reference};

use super::table::human_size;
use crate::errors::{CliError, CliResult};
use crate::output;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The image (`nginx` means `docker.io/library/nginx:latest`).
    #[arg(value_name = "REF")]
    pub reference: String,
    /// A mirror tried before a registry, as REGISTRY=URL (repeatable, tried in order); the
    /// URL's scheme decides plain http or https.
    #[arg(long = "registry-mirror", value_name = "REG=URL")]
    pub mirrors: Vec<String>,
    /// A registry (`HOST[:PORT]`) spoken to over plain http (repeatable).
    #[arg(long = "insecure-registry", value_name = "REG")]
    pub insecure: Vec<String>,
    /// USER:PASSWORD for the image's registry (and its token server).
    #[arg(
        long,
        env = "SKIFF_REGISTRY_CREDS",
        hide_env_values = true,
        value_name = "USER:PASSWORD"
    )]
    pub creds: Option<String>,
    /// Layers downloaded at the same time.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub concurrency: usize,
}

pub fn run(store: &ImageStore, args: &PullArgs) -> CliResult {
    let options = options(args)?;
    let puller = Puller::new(options).map_err(|e| CliError::msg(e.to_string()))?;
    let display = Display::new(std::io::stderr().is_terminal());
    // The image command runs synchronously inside the CLI's multi-threaded runtime.
    let result = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(puller.pull(store, &args.reference, &|event| display.show(event)))
    });
    display.finish();
    let record = result.map_err(|e| CliError::msg(e.to_string()))?;
    output::print_line(&format!(
        "pulled {} ({})",
        record.reference, record.manifest_digest
    ));
    Ok(())
}

fn options(args: &PullArgs) -> CliResult<PullOptions> {
    let mut options = PullOptions {
        concurrency: args.concurrency,
        insecure: args.insecure.iter().cloned().collect(),
        ..PullOptions::default()
    };
    for m in &args.mirrors {
        let (registry, url) = m.split_once('=').ok_or_else(|| {
            CliError::msg(format!(
                "--registry-mirror {m:?}: expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000"
            ))
        })?;
        options
            .mirrors
            .entry(registry.to_string())
            .or_default()
            .push(url.to_string());
    }
    if let Some(creds) = &args.creds {
        let (user, password) = creds
            .split_once(':')
            .ok_or_else(|| CliError::msg("--creds: expected USER:PASSWORD"))?;
        let reference =
            Reference::parse(&args.reference).map_err(|e| CliError::msg(e.to_string()))?;
        options.credentials.insert(
            reference.registry().to_string(),
            Credentials::new(user, password),
        );
    }
    Ok(options)
}

/// Progress bars on a terminal, one plain line per step otherwise.
struct Display {
    bars: Option<(MultiProgress, Mutex<HashMap<Digest, ProgressBar>>)>,
}

impl Display {
    fn new(terminal: bool) -> Display {
        Display {
            bars: terminal.then(|| (MultiProgress::new(), Mutex::new(HashMap::new()))),
        }
    }

    fn show(&self, event: PullProgress) {
        match &self.bars {
            Some((multi, bars)) => Self::bar(multi, bars, event),
            None => {
                if let Some(line) = plain_line(&event) {
                    output::print_line(&line);
                }
            }
        }
    }

    fn bar(multi: &MultiProgress, bars: &Mutex<HashMap<Digest, ProgressBar>>, event: PullProgress) {
        let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            PullProgress::Resolved {
                reference,
                endpoint,
                manifest_digest,
                layers,
            } => {
                let _ = multi.println(format!("{reference}: {manifest_digest} from {endpoint}"));
                let style = ProgressStyle::with_template(
                    "{prefix} {bar:30.cyan/blue} {bytes:>9}/{total_bytes:9} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                for (digest, size) in layers {
                    let bar = multi.add(ProgressBar::new(size));
                    bar.set_style(style.clone());
                    bar.set_prefix(short(&digest));
                    bar.set_message("waiting");
                    bars.insert(digest, bar);
                }
            }
            PullProgress::LayerStarted { digest, .. } => {
                if let Some(bar) = bars.get(&digest) {
                    bar.set_message("downloading");
                }
            }
            PullProgress::LayerBytes {
                digest,
                done,
                total,
            } => {
                if let Some(bar) = bars.get(&digest) {
                    bar.set_position(done);
                    if done == total {
                        bar.set_message("unpacking");
                    }
                }
            }
            PullProgress::LayerDone { digest } => {
                if let Some(bar) = bars.get(&digest) {
                    bar.set_position(bar.length().unwrap_or(0));
                    bar.finish_with_message("done");
                }
            }
            PullProgress::Done => {}
        }
    }

    /// Leaves finished bars on screen and drops unfinished ones (a failed pull).
    fn finish(&self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}

fn plain_line(event: &PullProgress) -> Option<String> {
    match event {
        PullProgress::Resolved {
            reference,
            endpoint,
            manifest_digest,
            layers,
        } => {
            let total: u64 = layers.iter().map(|(_, s)| s).sum();
            Some(format!(
                "resolved {reference} to {manifest_digest} from {endpoint}: {} layer{}, {}",
                layers.len(),
                if layers.len() == 1 { "" } else { "s" },
                human_size(total)
            ))
        }
        PullProgress::LayerStarted { digest, size } => Some(format!(
            "layer {} ({}): pulling",
            short(digest),
            human_size(*size)
        )),
        PullProgress::LayerDone { digest } => Some(format!("layer {}: done", short(digest))),
        PullProgress::LayerBytes { .. } | PullProgress::Done => None,
    }
}

/// The first 12 hex characters, as docker shows layer IDs.
fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines() {
        let d = Digest::of_bytes(b"layer");
        let resolved = PullProgress::Resolved {
            reference: "docker.io/library/nginx:latest".into(),
            endpoint: "docker.io".into(),
            manifest_digest: d.clone(),
            layers: vec![(d.clone(), 2_500)],
        };
        assert_eq!(
            plain_line(&resolved).unwrap(),
            format!(
                "resolved docker.io/library/nginx:latest to {d} from docker.io: 1 layer, 2.5kB"
            )
        );
        assert_eq!(
            plain_line(&PullProgress::LayerDone { digest: d.clone() }).unwrap(),
            format!("layer {}: done", &d.hex()[..12])
        );
        assert_eq!(
            plain_line(&PullProgress::LayerBytes {
                digest: d,
                done: 1,
                total: 2
            }),
            None
        );
    }

    #[test]
    fn mirror_flags_need_an_equals_sign() {
        let args = PullArgs {
            reference: "nginx".into(),
            mirrors: vec!["docker.io=http://127.0.0.1:5000".into(), "bad".into()],
            insecure: vec![],
            creds: None,
            concurrency: 3,
        };
        let err = options(&args).err().unwrap().render().unwrap();
        assert!(err.contains("\"bad\""), "{err}");
        let ok = PullArgs {
            mirrors: vec!["docker.io=http://127.0.0.1:5000".into()],
            creds: Some("u:p".into()),
            ..args
        };
        let o = options(&ok).unwrap();
        assert_eq!(o.mirrors["docker.io"], ["http://127.0.0.1:5000"]);
        assert_eq!(o.credentials["docker.io"], Credentials::new("u", "p"));
    }
}
