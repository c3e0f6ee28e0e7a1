//! From the image config and the agent's [`ContainerConfig`] to the
//! process the monitor starts ([`ProcessSpec`]) and the container's cgroup
//! limits: argv, env, working directory, user, stop signal and hardening,
//! following `shared/images.md` and the CRI runtimes' conventions.

use std::collections::BTreeSet;

use skiff_container::spec::{
    CgroupResources, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_NOFILE,
    DEFAULT_READONLY_PATHS, ProcessSpec, SeccompMode, UserSpec,
};
use skiff_image::ImageConfig;

use crate::runtime::{ContainerConfig, Resources};

pub use skiff_container::spec::{CAPABILITY_NAMES as ALL_CAPABILITIES, DEFAULT_PATH};

/// The process and the security settings that live outside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedProcess {
    pub process: ProcessSpec,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub readonly_rootfs: bool,
}

/// Builds the process of a container; the error names what is wrong
/// (`CreateContainerConfigError`'s message).
pub fn resolve(
    image: &ImageConfig,
    c: &ContainerConfig,
    qos_class: &str,
) -> Result<ResolvedProcess, String> {
    let sc = c.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let args = argv(image, c)?;
    let env = merge_env(image.env.as_deref().unwrap_or_default(), &c.env);
    let cwd = working_dir(image, c)?;
    let user = user(image, c)?;
    let capabilities = capabilities(
        privileged,
        sc.capabilities.as_ref().map_or(&[][..], |k| &k.add),
        sc.capabilities.as_ref().map_or(&[][..], |k| &k.drop),
    )?;
    let seccomp = if privileged {
        SeccompMode::Unconfined
    } else {
        seccomp_mode(sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()))?
    };
    let no_new_privileges = !privileged && sc.allow_privilege_escalation != Some(true);
    let stop_signal = match image.stop_signal.as_deref() {
        None | Some("") => libc::SIGTERM,
        Some(name) => signal_number(name)
            .ok_or_else(|| format!("the image's StopSignal {name:?} is not a known signal"))?,
    };
    let unmasked = privileged || sc.proc_mount.as_deref() == Some("Unmasked");
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(ResolvedProcess {
        process: ProcessSpec {
            args,
            env,
            cwd,
            user,
            tty: c.tty,
            capabilities,
            no_new_privileges,
            seccomp,
            rlimits: vec![("RLIMIT_NOFILE".into(), DEFAULT_NOFILE, DEFAULT_NOFILE)],
            // Lowering the score needs CAP_SYS_RESOURCE; only raise it.
            oom_score_adj: (qos_class == "BestEffort").then_some(1000),
            stop_signal,
        },
        masked_paths: if unmasked {
            Vec::new()
        } else {
            strings(DEFAULT_MASKED_PATHS)
        },
        readonly_paths: if unmasked {
            Vec::new()
        } else {
            strings(DEFAULT_READONLY_PATHS)
        },
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
    })
}

/// `command` replaces the Entrypoint and drops the image's Cmd; `args`
/// replaces Cmd; neither: Entrypoint + Cmd.
pub fn argv(image: &ImageConfig, c: &ContainerConfig) -> Result<Vec<String>, String> {
    let entrypoint = image.entrypoint.clone().unwrap_or_default();
    let cmd = image.cmd.clone().unwrap_or_default();
    let argv: Vec<String> = match (c.command.is_empty(), c.args.is_empty()) {
        (false, _) => c.command.iter().chain(&c.args).cloned().collect(),
        (true, false) => entrypoint.into_iter().chain(c.args.clone()).collect(),
        (true, true) => entrypoint.into_iter().chain(cmd).collect(),
    };
    match argv.first() {
        None => Err(format!(
            "container {:?}: no command to run (the image {} has no Entrypoint or Cmd and the pod gives no command)",
            c.name, c.image
        )),
        Some(first) if first.is_empty() => Err(format!(
            "container {:?}: the command is an empty string",
            c.name
        )),
        Some(_) => Ok(argv),
    }
}

/// Image env first, then the pod's (a pod variable replaces the image's of
/// the same name); `PATH` added when neither sets it.
pub fn merge_env(image_env: &[String], pod_env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = image_env
        .iter()
        .filter(|kv| {
            let name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            !pod_env.iter().any(|(k, _)| k == name)
        })
        .cloned()
        .collect();
    out.extend(pod_env.iter().map(|(k, v)| format!("{k}={v}")));
    if !out.iter().any(|kv| kv.starts_with("PATH=")) {
        out.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    out
}

fn working_dir(image: &ImageConfig, c: &ContainerConfig) -> Result<String, String> {
    let dir = c
        .working_dir
        .clone()
        .or_else(|| image.working_dir.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    if !dir.starts_with('/') {
        return Err(format!(
            "container {:?}: the working directory {dir:?} is not an absolute path",
            c.name
        ));
    }
    Ok(dir)
}

/// `runAsUser`/`runAsGroup` win over the image's `User`; `runAsNonRoot`
/// is checked where it can be (a numeric uid).
fn user(image: &ImageConfig, c: &ContainerConfig) -> Result<UserSpec, String> {
    let sc = c.security_context.clone().unwrap_or_default();
    let id = |v: Option<i64>, what: &str| -> Result<Option<u32>, String> {
        v.map(|v| {
            u32::try_from(v)
                .map_err(|_| format!("container {:?}: {what} {v} is out of range", c.name))
        })
        .transpose()
    };
    let uid = id(sc.run_as_user, "runAsUser")?;
    let gid = id(sc.run_as_group, "runAsGroup")?;
    let name = image.user.clone().filter(|u| !u.is_empty());
    if sc.run_as_non_root == Some(true) {
        let image_uid = name.as_deref().map(|u| u.split(':').next().unwrap_or(u));
        let effective = match (uid, image_uid) {
            (Some(uid), _) => Some(uid),
            (None, None) => Some(0),
            (None, Some(u)) => match u.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(format!(
                        "container {:?} has runAsNonRoot and the image has a non-numeric user ({u}): cannot verify the user is non-root",
                        c.name
                    ));
                }
            },
        };
        if effective == Some(0) {
            return Err(format!(
                "container {:?} has runAsNonRoot and the image will run as root",
                c.name
            ));
        }
    }
    Ok(UserSpec {
        uid,
        gid,
        name,
        additional_gids: c.supplemental_groups.clone(),
    })
}

/// `NET_RAW` or `CAP_NET_RAW` (any case) -> `CAP_NET_RAW`; `ALL` stays `ALL`.
fn canonical_capability(name: &str) -> Result<String, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(format!("unknown capability {name:?}"))
    }
}

/// The default set, plus `add`, minus `drop` (containerd's rules: `ALL` in
/// add gives every capability; `ALL` in drop keeps only what add names).
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    let all = || {
        ALL_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    };
    if privileged {
        return Ok(ordered(all()));
    }
    let add: BTreeSet<String> = add
        .iter()
        .map(|c| canonical_capability(c))
        .collect::<Result<_, _>>()?;
    let drop: BTreeSet<String> = drop
        .iter()
        .map(|c| canonical_capability(c))
        .collect::<Result<_, _>>()?;
    let added = if add.contains("ALL") { all() } else { add };
    let mut caps: BTreeSet<String> = if drop.contains("ALL") {
        BTreeSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect()
    };
    caps.retain(|c| !drop.contains(c));
    caps.extend(added);
    Ok(ordered(caps))
}

/// In kernel number order, as `capsh` prints them.
fn ordered(set: BTreeSet<String>) -> Vec<String> {
    ALL_CAPABILITIES
        .iter()
        .filter(|c| set.contains(**c))
        .map(|c| c.to_string())
        .collect()
}

fn seccomp_mode(profile: Option<&str>) -> Result<SeccompMode, String> {
    match profile {
        None | Some("") | Some("RuntimeDefault") => Ok(SeccompMode::RuntimeDefault),
        Some("Unconfined") => Ok(SeccompMode::Unconfined),
        Some(other) => Err(format!(
            "seccompProfile type {other:?} is not supported (RuntimeDefault or Unconfined)"
        )),
    }
}

/// `SIGQUIT`, `QUIT`, `sigquit` or `3` -> 3.
pub fn signal_number(name: &str) -> Option<i32> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match bare {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        other => {
            let rt = other.strip_prefix("RTMIN")?;
            let off: i32 = if rt.is_empty() {
                0
            } else {
                rt.strip_prefix('+')?.parse().ok()?
            };
            let n = libc::SIGRTMIN() + off;
            return (n <= libc::SIGRTMAX()).then_some(n);
        }
    };
    Some(n)
}

/// Kubernetes resources -> cgroup limits (a CPU request defaults to the
/// limit, as the API server's defaulting does).
pub fn cgroup_resources(r: &Resources, pids_limit: u64) -> CgroupResources {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as u64);
    CgroupResources {
        cpu_limit_milli: positive(r.cpu_limit_milli),
        cpu_request_milli: positive(r.cpu_request_milli).or(positive(r.cpu_limit_milli)),
        memory_limit_bytes: positive(r.memory_limit_bytes),
        pids_limit: Some(pids_limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{Capabilities, SeccompProfile, SecurityContext};

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into(), "-v".into()]),
            env: Some(vec!["PATH=/bin".into(), "MODE=image".into()]),
            working_dir: Some("/app".into()),
            user: Some("33".into()),
            stop_signal: Some("SIGQUIT".into()),
        }
    }

    fn container() -> ContainerConfig {
        ContainerConfig {
            name: "c".into(),
            image: "img".into(),
            ..Default::default()
        }
    }

    #[test]
    fn argv_rules() {
        let img = image();
        let mut c = container();
        assert_eq!(argv(&img, &c).unwrap(), ["/entry", "serve", "-v"]);
        c.args = vec!["other".into()];
        assert_eq!(argv(&img, &c).unwrap(), ["/entry", "other"]);
        c.command = vec!["/bin/sh".into(), "-c".into()];
        assert_eq!(argv(&img, &c).unwrap(), ["/bin/sh", "-c", "other"]);
        c.args.clear();
        // The command drops the image's Cmd.
        assert_eq!(argv(&img, &c).unwrap(), ["/bin/sh", "-c"]);
        let err = argv(&ImageConfig::default(), &container()).unwrap_err();
        assert!(err.contains("no command"), "{err}");
    }

    #[test]
    fn env_merges_with_the_pod_winning_and_a_default_path() {
        let env = merge_env(
            &["PATH=/bin".into(), "MODE=image".into(), "KEEP=1".into()],
            &[("MODE".into(), "pod".into())],
        );
        assert_eq!(env, ["PATH=/bin", "KEEP=1", "MODE=pod"]);
        let env = merge_env(&[], &[("A".into(), "b".into())]);
        assert_eq!(env, [format!("PATH={DEFAULT_PATH}"), "A=b".into()]);
    }

    #[test]
    fn defaults_are_hardened() {
        let r = resolve(&image(), &container(), "Burstable").unwrap();
        let p = &r.process;
        assert_eq!(p.cwd, "/app");
        assert_eq!(p.stop_signal, libc::SIGQUIT);
        assert_eq!(p.user.name.as_deref(), Some("33"));
        assert!(p.no_new_privileges);
        assert_eq!(p.seccomp, SeccompMode::RuntimeDefault);
        assert_eq!(p.capabilities.len(), DEFAULT_CAPABILITIES.len());
        assert!(!p.capabilities.iter().any(|c| c == "CAP_NET_RAW"));
        assert_eq!(r.masked_paths.len(), DEFAULT_MASKED_PATHS.len());
        assert!(!r.readonly_rootfs);
        assert_eq!(p.oom_score_adj, None);
        let r = resolve(&image(), &container(), "BestEffort").unwrap();
        assert_eq!(r.process.oom_score_adj, Some(1000));
    }

    #[test]
    fn security_context_is_honoured() {
        let mut c = container();
        c.working_dir = Some("/work".into());
        c.supplemental_groups = vec![5, 7];
        c.security_context = Some(SecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(2000),
            allow_privilege_escalation: Some(true),
            read_only_root_filesystem: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "Unconfined".into(),
                localhost_profile: None,
            }),
            capabilities: Some(Capabilities {
                add: vec!["NET_RAW".into(), "cap_sys_time".into()],
                drop: vec!["CAP_KILL".into(), "chown".into()],
            }),
            ..Default::default()
        });
        let r = resolve(&image(), &c, "Guaranteed").unwrap();
        let p = &r.process;
        assert_eq!(p.cwd, "/work");
        assert_eq!((p.user.uid, p.user.gid), (Some(1000), Some(2000)));
        assert_eq!(p.user.additional_gids, [5, 7]);
        assert!(!p.no_new_privileges);
        assert_eq!(p.seccomp, SeccompMode::Unconfined);
        assert!(r.readonly_rootfs);
        for want in ["CAP_NET_RAW", "CAP_SYS_TIME", "CAP_SETUID"] {
            assert!(p.capabilities.iter().any(|c| c == want), "{want}");
        }
        for gone in ["CAP_KILL", "CAP_CHOWN"] {
            assert!(!p.capabilities.iter().any(|c| c == gone), "{gone}");
        }
    }

    #[test]
    fn capability_edge_cases() {
        let only = capabilities(false, &["NET_BIND_SERVICE".into()], &["ALL".into()]).unwrap();
        assert_eq!(only, ["CAP_NET_BIND_SERVICE"]);
        assert_eq!(
            capabilities(false, &["ALL".into()], &[]).unwrap().len(),
            ALL_CAPABILITIES.len()
        );
        assert_eq!(
            capabilities(true, &[], &["ALL".into()]).unwrap().len(),
            ALL_CAPABILITIES.len()
        );
        let err = capabilities(false, &["FLY".into()], &[]).unwrap_err();
        assert!(err.contains("FLY"), "{err}");
    }

    #[test]
    fn privileged_drops_the_confinement() {
        let mut c = container();
        c.security_context = Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        });
        let r = resolve(&image(), &c, "Burstable").unwrap();
        assert_eq!(r.process.seccomp, SeccompMode::Unconfined);
        assert!(!r.process.no_new_privileges);
        assert!(r.masked_paths.is_empty() && r.readonly_paths.is_empty());
        assert_eq!(r.process.capabilities.len(), ALL_CAPABILITIES.len());
    }

    #[test]
    fn run_as_non_root_is_checked() {
        let mut c = container();
        c.security_context = Some(SecurityContext {
            run_as_non_root: Some(true),
            ..Default::default()
        });
        // The image runs as 33: fine.
        resolve(&image(), &c, "Burstable").unwrap();
        let root_image = ImageConfig {
            user: None,
            ..image()
        };
        let err = resolve(&root_image, &c, "Burstable").unwrap_err();
        assert!(err.contains("runAsNonRoot"), "{err}");
        let named = ImageConfig {
            user: Some("www-data".into()),
            ..image()
        };
        assert!(
            resolve(&named, &c, "Burstable")
                .unwrap_err()
                .contains("non-numeric")
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = container();
        c.working_dir = Some("rel".into());
        assert!(resolve(&image(), &c, "").unwrap_err().contains("\"rel\""));
        let bad_signal = ImageConfig {
            stop_signal: Some("SIGNOPE".into()),
            ..image()
        };
        assert!(
            resolve(&bad_signal, &container(), "")
                .unwrap_err()
                .contains("SIGNOPE")
        );
        let mut c = container();
        c.security_context = Some(SecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_: "Localhost".into(),
                localhost_profile: Some("p.json".into()),
            }),
            ..Default::default()
        });
        assert!(resolve(&image(), &c, "").unwrap_err().contains("Localhost"));
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_number("SIGQUIT"), Some(3));
        assert_eq!(signal_number("quit"), Some(3));
        assert_eq!(signal_number("15"), Some(15));
        assert_eq!(signal_number("SIGRTMIN+1"), Some(libc::SIGRTMIN() + 1));
        assert_eq!(signal_number("0"), None);
        assert_eq!(signal_number("SIGFOO"), None);
    }

    #[test]
    fn resources_become_cgroup_limits() {
        let r = Resources {
            cpu_limit_milli: Some(200),
            memory_limit_bytes: Some(64 << 20),
            ..Default::default()
        };
        let c = cgroup_resources(&r, 4096);
        assert_eq!(c.cpu_limit_milli, Some(200));
        assert_eq!(c.cpu_request_milli, Some(200));
        assert_eq!(c.memory_limit_bytes, Some(64 << 20));
        assert_eq!(c.pids_limit, Some(4096));
        assert_eq!(
            cgroup_resources(&Resources::default(), 7).cpu_limit_milli,
            None
        );
    }
}
