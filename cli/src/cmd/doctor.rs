//! `skiff doctor`: checks a host before it runs a node (or a lab): cgroups
//! and controllers, overlayfs, namespaces, CNI plugins, nft, iproute2,
//! ip_forward, inotify limits, and the interface pod traffic would use.
//! Prints one ok/warn/fail line per check; exits non-zero on a fail.
//! Reads only: it changes nothing on the host.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use clap::Args;
use skiff_agent::routes::{iface, sysctl};
use skiff_container::cgroups::{CgroupVersion, Cgroups};

use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The interface other nodes reach this one through (default: the
    /// default route's).
    #[arg(long, value_name = "NAME")]
    pub iface: Option<String>,
    /// The node IP you mean to use: checked to be on that interface.
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<Ipv4Addr>,
    /// Extra directory searched for CNI plugins.
    #[arg(long, value_name = "DIR")]
    pub cni_plugin_dir: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub name: &'static str,
    pub detail: String,
}

fn check(level: Level, name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        level,
        name,
        detail: detail.into(),
    }
}

pub async fn run(args: DoctorArgs) -> CliResult {
    let checks = all_checks(&args);
    for c in &checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("{tag}  {:<14} {}", c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warned = checks.iter().filter(|c| c.level == Level::Warn).count();
    if failed > 0 {
        return Err(CliError::msg(format!(
            "{failed} check(s) failed, {warned} warning(s)"
        )));
    }
    println!("\nthis host can run a skiff node ({warned} warning(s))");
    Ok(())
}

pub fn all_checks(args: &DoctorArgs) -> Vec<Check> {
    let mut out = vec![root(), kernel()];
    out.extend(cgroups());
    out.push(overlayfs(&read("/proc/filesystems")));
    out.extend(namespaces());
    out.push(cni(&args.cni_plugin_dir));
    out.push(program(
        "nft",
        &["--version"],
        "nftables: the service proxy needs it",
    ));
    out.push(program(
        "ip",
        &["-V"],
        "iproute2: pod routes and `skiff lab` need it",
    ));
    out.push(ip_forward());
    out.push(br_netfilter(std::path::Path::new(BRIDGE_NF_CALL)));
    out.extend(inotify());
    out.push(interface(args.iface.as_deref(), args.node_ip));
    out
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn root() -> Check {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        check(Level::Ok, "root", "running as root")
    } else {
        check(
            Level::Fail,
            "root",
            "a node needs root (namespaces, cgroups, mounts)",
        )
    }
}

fn kernel() -> Check {
    let release = read("/proc/sys/kernel/osrelease");
    let release = release.trim();
    let major: Option<(u32, u32)> = release.split_once('.').and_then(|(a, b)| {
        let minor: String = b.chars().take_while(char::is_ascii_digit).collect();
        Some((a.parse().ok()?, minor.parse().ok()?))
    });
    match major {
        // The new mount API (fsopen, lowerdir+) and clone3 need 5.x; 6.x recommended.
        Some(v) if v >= (5, 11) => check(Level::Ok, "kernel", release),
        Some(_) => check(
            Level::Warn,
            "kernel",
            format!("{release}: 5.11 or newer recommended"),
        ),
        None => check(
            Level::Warn,
            "kernel",
            format!("unknown release {release:?}"),
        ),
    }
}

fn cgroups() -> Vec<Check> {
    let cg = match Cgroups::detect() {
        Ok(c) => c,
        Err(e) => return vec![check(Level::Fail, "cgroups", e.to_string())],
    };
    let unified_dir = Path::new("/sys/fs/cgroup/unified");
    match cg.version() {
        CgroupVersion::V2 => {
            let controllers = read("/sys/fs/cgroup/cgroup.controllers");
            let have: Vec<&str> = controllers.split_whitespace().collect();
            vec![
                check(Level::Ok, "cgroups", "v2 (unified)"),
                controllers_check(&have, &["cpu", "memory", "pids"], &["cpuset", "io"]),
            ]
        }
        CgroupVersion::V1 => {
            let mode = if unified_dir.is_dir() {
                "v1 (hybrid: v1 controllers + an unused unified tree)"
            } else {
                "v1 (legacy)"
            };
            let mounted: Vec<String> = [
                "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio",
            ]
            .into_iter()
            .filter(|c| {
                // One directory per hierarchy: .../<controllers>/skiff-doctor-probe.
                cg.dirs("skiff-doctor-probe").is_ok_and(|dirs| {
                    dirs.iter().any(|d| {
                        d.parent()
                            .and_then(|p| p.file_name())
                            .is_some_and(|n| n.to_string_lossy().split(',').any(|x| x == *c))
                    })
                })
            })
            .map(str::to_string)
            .collect();
            let have: Vec<&str> = mounted.iter().map(String::as_str).collect();
            vec![
                check(Level::Ok, "cgroups", mode),
                controllers_check(
                    &have,
                    &["cpu", "memory", "pids", "freezer"],
                    &["cpuset", "devices", "blkio"],
                ),
            ]
        }
    }
}

fn controllers_check(have: &[&str], needed: &[&str], wanted: &[&str]) -> Check {
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|c| !have.contains(c))
        .collect();
    let absent: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|c| !have.contains(c))
        .collect();
    if !missing.is_empty() {
        check(
            Level::Fail,
            "controllers",
            format!("missing {}: have {}", missing.join(" "), have.join(" ")),
        )
    } else if !absent.is_empty() {
        check(
            Level::Warn,
            "controllers",
            format!("{} (without {})", have.join(" "), absent.join(" ")),
        )
    } else {
        check(Level::Ok, "controllers", have.join(" "))
    }
}

fn overlayfs(filesystems: &str) -> Check {
    let loaded = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if loaded {
        check(Level::Ok, "overlayfs", "available")
    } else {
        check(
            Level::Fail,
            "overlayfs",
            "not in /proc/filesystems (modprobe overlay)",
        )
    }
}

fn namespaces() -> Vec<Check> {
    let mut out = Vec::new();
    let required = ["net", "pid", "mnt", "uts", "ipc"];
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|n| !Path::new("/proc/self/ns").join(n).exists())
        .collect();
    let optional: Vec<&str> = ["cgroup", "user", "time"]
        .into_iter()
        .filter(|n| Path::new("/proc/self/ns").join(n).exists())
        .collect();
    out.push(if missing.is_empty() {
        check(
            Level::Ok,
            "namespaces",
            format!("{} {}", required.join(" "), optional.join(" ")),
        )
    } else {
        check(
            Level::Fail,
            "namespaces",
            format!("missing {}", missing.join(" ")),
        )
    });
    for (ns, what) in [
        ("cgroup", "cgroup namespaces (v2 containers)"),
        ("user", "user namespaces (hostUsers: false)"),
        ("time", "time namespaces"),
    ] {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            out.push(check(Level::Warn, "namespaces", format!("no {what}")));
        }
    }
    let max_userns = read("/proc/sys/user/max_user_namespaces");
    if max_userns.trim() == "0" {
        out.push(check(
            Level::Warn,
            "namespaces",
            "user.max_user_namespaces=0: no hostUsers: false",
        ));
    }
    out
}

fn cni(extra: &[PathBuf]) -> Check {
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    dirs.push("/usr/lib/cni".into());
    dirs.push("/opt/cni/bin".into());
    let needed = ["bridge", "host-local", "loopback"];
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for plugin in needed {
        match dirs.iter().find(|d| d.join(plugin).is_file()) {
            Some(d) => found.push(format!("{plugin} ({})", d.display())),
            None => missing.push(plugin),
        }
    }
    if missing.is_empty() {
        check(Level::Ok, "cni plugins", found.join(", "))
    } else {
        check(
            Level::Fail,
            "cni plugins",
            format!(
                "missing {} in {} (Debian: containernetworking-plugins)",
                missing.join(" "),
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

fn program(name: &'static str, args: &[&str], why: &str) -> Check {
    match std::process::Command::new(name).args(args).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            check(
                Level::Ok,
                name,
                text.lines().next().unwrap_or("").trim().to_string(),
            )
        }
        Ok(out) => check(
            Level::Fail,
            name,
            format!(
                "{name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(_) => check(Level::Fail, name, format!("not found ({why})")),
    }
}

fn ip_forward() -> Check {
    match sysctl::ip_forward() {
        Ok(true) => check(Level::Ok, "ip_forward", "net.ipv4.ip_forward=1"),
        Ok(false) => check(
            Level::Warn,
            "ip_forward",
            "net.ipv4.ip_forward=0: pods on other nodes cannot reach this node's pods \
             (skiff agent --enable-ip-forward sets it; lab nodes have it in their own netns)",
        ),
        Err(e) => check(Level::Warn, "ip_forward", format!("unreadable: {e}")),
    }
}

/// Present only while the `br_netfilter` module is loaded.
const BRIDGE_NF_CALL: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// A pod reaching a Service whose endpoint sits on the same bridge: the
/// reply is bridged, not routed, and skips the un-DNAT unless bridged
/// traffic goes through netfilter.
fn br_netfilter(sysctl: &std::path::Path) -> Check {
    match std::fs::read_to_string(sysctl) {
        Ok(v) if v.trim() == "1" => check(
            Level::Ok,
            "br_netfilter",
            "loaded, bridged traffic is filtered",
        ),
        Ok(v) => check(
            Level::Warn,
            "br_netfilter",
            format!(
                "net.bridge.bridge-nf-call-iptables={}: a pod reaching a Service served on its own node gets no reply",
                v.trim()
            ),
        ),
        Err(_) => check(
            Level::Warn,
            "br_netfilter",
            "not loaded: a pod reaching a Service served on its own node gets no reply (modprobe br_netfilter)",
        ),
    }
}

fn inotify() -> Vec<Check> {
    let mut out = Vec::new();
    for (file, min) in [("max_user_instances", 512u64), ("max_user_watches", 65536)] {
        let path = format!("/proc/sys/fs/inotify/{file}");
        let value: Option<u64> = read(&path).trim().parse().ok();
        out.push(match value {
            Some(v) if v >= min => check(Level::Ok, "inotify", format!("{file}={v}")),
            Some(v) => check(
                Level::Warn,
                "inotify",
                format!(
                    "{file}={v}: at least {min} recommended (many pods tail logs and watch files)"
                ),
            ),
            None => check(Level::Warn, "inotify", format!("{path} unreadable")),
        });
    }
    out
}

fn interface(flag: Option<&str>, node_ip: Option<Ipv4Addr>) -> Check {
    let (name, source) = match flag {
        Some(i) => (i.to_string(), "--iface"),
        None => match iface::default_route_iface() {
            Some(i) => (i, "the default route's"),
            None => {
                return check(
                    Level::Warn,
                    "interface",
                    "no default route: pass --iface to `skiff agent` (and --node-ip)",
                );
            }
        },
    };
    match iface::node_ip_on(&name, node_ip) {
        Ok(ip) => {
            let shown = IpAddr::V4(ip);
            check(
                Level::Ok,
                "interface",
                format!(
                    "{name} ({source}), node IP {shown}; pass --iface/--node-ip if other nodes reach this one elsewhere"
                ),
            )
        }
        Err(e) => check(Level::Fail, "interface", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn br_netfilter_is_read_from_its_sysctl() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bridge-nf-call-iptables");
        assert_eq!(br_netfilter(&file).level, Level::Warn);
        std::fs::write(&file, "0\n").unwrap();
        assert_eq!(br_netfilter(&file).level, Level::Warn);
        std::fs::write(&file, "1\n").unwrap();
        assert_eq!(br_netfilter(&file).level, Level::Ok);
    }

    #[test]
    fn overlay_detection_reads_proc_filesystems() {
        assert_eq!(overlayfs("nodev\tsysfs\nnodev\toverlay\n").level, Level::Ok);
        assert_eq!(overlayfs("nodev\tsysfs\n").level, Level::Fail);
    }

    #[test]
    fn controllers_missing_fail_and_optional_warn() {
        assert_eq!(
            controllers_check(&["cpu", "memory"], &["cpu", "memory", "pids"], &[]).level,
            Level::Fail
        );
        assert_eq!(
            controllers_check(&["cpu", "memory", "pids"], &["cpu"], &["io"]).level,
            Level::Warn
        );
        assert_eq!(
            controllers_check(&["cpu", "io"], &["cpu"], &["io"]).level,
            Level::Ok
        );
    }

    #[test]
    fn a_wrong_node_ip_fails_the_interface_check() {
        let c = interface(Some("lo"), Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(c.level, Level::Fail);
        assert!(c.detail.contains("203.0.113.7"), "{}", c.detail);
        assert_eq!(interface(Some("lo"), None).level, Level::Ok);
    }
}
