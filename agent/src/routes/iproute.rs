//! The routes this agent owns, through iproute2: every route it writes
//! carries its own `proto` number, so it lists and removes only those and
//! never touches anyone else's.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;

use super::cidr::Ipv4Cidr;

/// One owned route as `ip -j route show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRoute {
    pub dst: Ipv4Cidr,
    pub via: Option<Ipv4Addr>,
    pub dev: Option<String>,
}

#[derive(Deserialize)]
struct JsonRoute {
    dst: String,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    dev: Option<String>,
}

/// Parses `ip -j -4 route show ...`; unparsable destinations (`default`
/// cannot carry our proto, but be safe) are left out.
pub fn parse_routes(json: &str) -> Result<Vec<OwnedRoute>, String> {
    let trimmed = json.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let routes: Vec<JsonRoute> =
        serde_json::from_str(trimmed).map_err(|e| format!("parsing `ip -j route` output: {e}"))?;
    Ok(routes
        .into_iter()
        .filter_map(|r| {
            Some(OwnedRoute {
                dst: Ipv4Cidr::parse(&r.dst).ok()?,
                via: r.gateway.and_then(|g| g.parse().ok()),
                dev: r.dev,
            })
        })
        .collect())
}

/// Runs `ip ARGS` and returns its stdout, or an error naming the command
/// and what it printed.
async fn ip(program: &Path, args: &[String]) -> Result<String, String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The routes of the main table with protocol `proto`.
pub async fn list_owned(program: &Path, proto: u8) -> Result<Vec<OwnedRoute>, String> {
    let args: Vec<String> = ["-j", "-4", "route", "show", "table", "main", "proto"]
        .iter()
        .map(|s| s.to_string())
        .chain([proto.to_string()])
        .collect();
    parse_routes(&ip(program, &args).await?)
}

/// `ip route replace DST via VIA dev DEV proto P onlink?`: idempotent.
pub async fn replace(
    program: &Path,
    dst: Ipv4Cidr,
    via: Ipv4Addr,
    dev: &str,
    proto: u8,
) -> Result<(), String> {
    let args = vec![
        "-4".into(),
        "route".into(),
        "replace".into(),
        dst.to_string(),
        "via".into(),
        via.to_string(),
        "dev".into(),
        dev.into(),
        "proto".into(),
        proto.to_string(),
    ];
    ip(program, &args).await.map(drop)
}

/// Deletes an owned route (the proto in the selector keeps others' safe).
pub async fn delete(program: &Path, dst: Ipv4Cidr, proto: u8) -> Result<(), String> {
    let args = vec![
        "-4".into(),
        "route".into(),
        "del".into(),
        dst.to_string(),
        "table".into(),
        "main".into(),
        "proto".into(),
        proto.to_string(),
    ];
    ip(program, &args).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json() {
        let json = r#"[{"dst":"10.244.1.0/24","gateway":"10.250.0.2","dev":"eth0","protocol":"66","flags":[]},
            {"dst":"10.9.9.9","dev":"eth0","flags":[]}]"#;
        let r = parse_routes(json).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].dst.to_string(), "10.244.1.0/24");
        assert_eq!(r[0].via, Some("10.250.0.2".parse().unwrap()));
        assert_eq!(r[0].dev.as_deref(), Some("eth0"));
        assert_eq!(r[1].dst.to_string(), "10.9.9.9/32");
        assert_eq!(r[1].via, None);
        assert!(parse_routes("").unwrap().is_empty());
        assert!(parse_routes("[]\n").unwrap().is_empty());
        assert!(parse_routes("not json").is_err());
    }
}
