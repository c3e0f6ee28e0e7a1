//! Blob downloads straight into the blob store: hashed while written, the size bounded by
//! the descriptor, committed only when the sha256 matches. A download cut short is resumed
//! with `Range` from where it stopped (a few times), or restarted if the server ignores it.

use std::io::Write;

use futures::StreamExt;
use reqwest::header::{CONTENT_RANGE, HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};

use super::transport::{Session, chain};
use crate::error::{Error, Result};
use crate::oci::Descriptor;
use crate::store::blobs::{BlobStore, BlobWriter};

/// How often one blob's download may be resumed after the connection broke.
const MAX_RESUMES: usize = 3;
/// Waited before each resume, times the attempt.
const RESUME_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Downloads `desc` into `blobs`; `on_bytes(done)` after every chunk.
pub(crate) async fn blob(
    session: &Session<'_>,
    blobs: &BlobStore,
    desc: &Descriptor,
    kind: &str,
    on_bytes: impl Fn(u64),
) -> Result<()> {
    let what = format!("{kind} blob {}", desc.digest);
    let url = session.url(&format!("blobs/{}", desc.digest));
    let mut writer = blobs.writer()?;
    let mut done = 0u64;
    let mut resumes = 0;
    loop {
        let mut headers = HeaderMap::new();
        if done > 0 {
            let range = HeaderValue::from_str(&format!("bytes={done}-")).expect("ascii");
            headers.insert(RANGE, range);
        }
        let response = match session.send(Method::GET, &url, headers, None).await {
            Ok(r) => r,
            // A resume may meet the broken connection's leftovers: that counts as a try.
            Err(e) if resumes > 0 && resumes < MAX_RESUMES => {
                resumes += 1;
                tracing::warn!(blob = %desc.digest, error = %e, "retrying a resume");
                tokio::time::sleep(RESUME_PAUSE * resumes as u32).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match response.status() {
            StatusCode::PARTIAL_CONTENT if done > 0 => {
                let range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !range.starts_with(&format!("bytes {done}-")) {
                    return Err(session.error(format!(
                        "resuming {what} at byte {done}: the server sent range {range:?}"
                    )));
                }
            }
            StatusCode::OK => {
                if done > 0 {
                    // The server ignored Range: start over.
                    writer = blobs.writer()?;
                    done = 0;
                }
                if let Some(n) = response.content_length()
                    && n != desc.size
                {
                    return Err(session.error(format!(
                        "{what} is {n} bytes, the manifest says {}",
                        desc.size
                    )));
                }
            }
            _ => return Err(session.status_error(&what, response).await),
        }
        let mut stream = response.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    broken = Some(chain(&e.without_url()));
                    break;
                }
            };
            done += chunk.len() as u64;
            if done > desc.size {
                return Err(session.error(format!(
                    "{what} is longer than the {} bytes the manifest says",
                    desc.size
                )));
            }
            write(&mut writer, &chunk, &what)?;
            on_bytes(done);
        }
        if done == desc.size {
            break;
        }
        let why = broken.unwrap_or_else(|| "the connection closed early".to_string());
        if resumes == MAX_RESUMES {
            return Err(session.error(format!(
                "downloading {what}: {why} after {done} of {} bytes ({MAX_RESUMES} resumes tried)",
                desc.size
            )));
        }
        resumes += 1;
        tracing::warn!(blob = %desc.digest, done, error = %why, "resuming a broken download");
        tokio::time::sleep(RESUME_PAUSE * resumes as u32).await;
    }
    writer.commit(&desc.digest).map_err(|e| match e {
        Error::DigestMismatch {
            expected, actual, ..
        } => Error::DigestMismatch {
            what: format!(
                "{what} of {} from {}",
                session.repository, session.endpoint.shown
            ),
            expected,
            actual,
        },
        other => other,
    })?;
    Ok(())
}

fn write(writer: &mut BlobWriter<'_>, chunk: &[u8], what: &str) -> Result<()> {
    writer
        .write_all(chunk)
        .map_err(|e| Error::io(format!("writing {what}"), e))
}
