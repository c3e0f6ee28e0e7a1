//! Container create-to-exit benchmark: `/bin/true` in a busybox root,
//! started through skiff's monitor path vs `crun run` and `runc run` on the
//! same root directory, interleaved, median and p90 per case and the ratio
//! to crun.
//!
//! Run as root: `cargo build --release -p skiff-e2e &&
//! target/release/bench-runtime --runs 200` (add `--monitor-binary
//! target/release/skiff` to time the `skiff` binary's own dispatch).
//!
//! - skiff: this binary (or `--monitor-binary`) run as `container-monitor
//!   STATE_DIR` (the same code `skiff container-monitor` runs), timed from
//!   spawn until the detached monitor has recorded the exit and exited
//!   (its state files written, its cgroup removed). Its container gets
//!   an overlay root (the layer + a fresh upper dir), joins one network
//!   namespace made for the benchmark (as a pod's container would), new
//!   pid/mount/ipc/uts namespaces, a v1/v2 cgroup, seccomp and the
//!   default hardening.
//! - crun/runc: `crun spec` defaults (new pid, net, ipc, uts, mount
//!   namespaces; no seccomp), `terminal: false`, the layer directory as a
//!   read-only root, a cgroup under the benchmark's parent.
//!
//! The whole benchmark runs in a private mount namespace where a private
//! tmpfs hides the unused `unified` cgroup2 mount, which crun 1.8 refuses
//! on hybrid hosts.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use skiff_container::cgroups::Cgroups;
use skiff_container::spec::*;
use skiff_container::state::{self, MONITOR_PID_FILE, Status};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Re-executed as the monitor: single-threaded, before anything else.
    if let Some(code) = skiff_container::dispatch(&args) {
        return ExitCode::from(code as u8);
    }
    match parse_args(&args[1..]).and_then(bench) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-runtime: {e:#}");
            ExitCode::from(1)
        }
    }
}

struct Args {
    runs: usize,
    /// Runs `container-monitor`: this binary, or e.g. `target/release/skiff`.
    monitor_binary: PathBuf,
}

fn parse_args(args: &[String]) -> anyhow::Result<Args> {
    let mut parsed = Args {
        runs: 200,
        monitor_binary: std::env::current_exe()?,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => parsed.runs = value.parse().context("--runs takes a number")?,
            "--monitor-binary" => parsed.monitor_binary = PathBuf::from(value),
            other => bail!("unknown flag {other} (known: --runs N --monitor-binary PATH)"),
        }
    }
    Ok(parsed)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Skiff,
    Crun,
    Runc,
}

impl Case {
    const ALL: [Case; 3] = [Case::Skiff, Case::Crun, Case::Runc];

    fn name(self) -> &'static str {
        match self {
            Case::Skiff => "skiff monitor",
            Case::Crun => "crun run",
            Case::Runc => "runc run",
        }
    }
}

struct Bench {
    monitor_binary: PathBuf,
    work: tempfile::TempDir,
    layer: PathBuf,
    netns: NetnsGuard,
    cgroup_parent: CgroupParentGuard,
    runs_started: usize,
}

fn bench(args: Args) -> anyhow::Result<()> {
    let runs = args.runs;
    ensure!(
        // SAFETY: plain syscall.
        unsafe { libc::geteuid() } == 0,
        "needs root (namespaces, cgroups)"
    );
    let netns = NetnsGuard::new(format!("skiffbench-{}", std::process::id()))?;
    private_mount_namespace_without_unified()?;
    let work = tempfile::tempdir()?;
    let layer = busybox_layer(work.path())?;
    let cgroup_parent = CgroupParentGuard {
        path: format!("skiff-bench-{}", std::process::id()),
        cgroups: Cgroups::detect()?,
    };
    for (case, dir) in [(Case::Crun, "crun"), (Case::Runc, "runc")] {
        write_bundle(&work.path().join(dir), &layer, &cgroup_parent.path, case)?;
    }
    let mut bench = Bench {
        monitor_binary: args.monitor_binary,
        work,
        layer,
        netns,
        cgroup_parent,
        runs_started: 0,
    };
    let warmup = 5;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); Case::ALL.len()];
    for round in 0..warmup + runs {
        // Rotate the order so no case always runs right after another.
        for k in 0..Case::ALL.len() {
            let index = (round + k) % Case::ALL.len();
            let took = bench.run(Case::ALL[index])?;
            if round >= warmup {
                samples[index].push(took);
            }
        }
    }
    report(runs, &mut samples);
    Ok(())
}

impl Bench {
    fn run(&mut self, case: Case) -> anyhow::Result<Duration> {
        self.runs_started += 1;
        let id = format!("bench{}-{}", std::process::id(), self.runs_started);
        match case {
            Case::Skiff => self.run_skiff(&id),
            Case::Crun | Case::Runc => self.run_oci(case, &id),
        }
    }

    fn run_skiff(&self, id: &str) -> anyhow::Result<Duration> {
        let dir = self.work.path().join("runs").join(id);
        let state_dir = dir.join("state");
        for sub in ["state", "upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let spec = skiff_spec(
            id,
            &dir,
            &self.layer,
            &self.netns.path(),
            &self.cgroup_parent.path,
        );
        fs::write(state_dir.join(SPEC_FILE), serde_json::to_vec(&spec)?)?;
        let start = Instant::now();
        let out = Command::new(&self.monitor_binary)
            .arg("container-monitor")
            .arg(&state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        ensure!(
            out.status.success(),
            "monitor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for_monitor_exit(&state_dir)?;
        let took = start.elapsed();
        match state::read_status(&state_dir)? {
            Status::Exited(exit) if exit.exit_code == 0 => {}
            other => bail!("/bin/true through the monitor ended as {other:?}"),
        }
        fs::remove_dir_all(&dir)?;
        Ok(took)
    }

    fn run_oci(&self, case: Case, id: &str) -> anyhow::Result<Duration> {
        let (binary, bundle) = match case {
            Case::Crun => ("crun", "crun"),
            _ => ("runc", "runc"),
        };
        let bundle = self.work.path().join(bundle);
        let root = self.work.path().join(format!("{binary}-state"));
        let start = Instant::now();
        let out = Command::new(binary)
            .arg("--root")
            .arg(&root)
            .arg("run")
            .arg("-b")
            .arg(&bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {binary}"))?;
        let took = start.elapsed();
        ensure!(
            out.status.success(),
            "{binary} run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(took)
    }
}

/// The detached monitor exits right after recording the exit: wait on a
/// pidfd of it (it may be gone already).
fn wait_for_monitor_exit(state_dir: &Path) -> anyhow::Result<()> {
    let Some(monitor) = state::read_identity(state_dir, MONITOR_PID_FILE) else {
        bail!("no monitor.pid in {}", state_dir.display());
    };
    let Ok(pidfd) = monitor.open_pidfd() else {
        return Ok(());
    };
    let mut fds = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&pidfd),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 30_000) };
    ensure!(ready == 1, "the monitor did not exit within 30 s");
    Ok(())
}

fn skiff_spec(id: &str, dir: &Path, layer: &Path, netns: &Path, parent: &str) -> ContainerSpec {
    ContainerSpec {
        id: id.to_string(),
        rootfs: RootfsSpec {
            layers: vec![layer.to_path_buf()],
            upper_dir: dir.join("upper"),
            work_dir: dir.join("work"),
            merged_dir: dir.join("merged"),
            readonly: false,
        },
        process: ProcessSpec {
            args: vec!["/bin/true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: UserSpec::default(),
            tty: false,
            capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            no_new_privileges: true,
            seccomp: SeccompMode::RuntimeDefault,
            rlimits: vec![("RLIMIT_NOFILE".into(), 1024, 1024)],
            oom_score_adj: None,
            stop_signal: libc::SIGTERM,
        },
        namespaces: NamespacesSpec {
            net: Some(netns.to_path_buf()),
            hostname: Some("bench".into()),
            ..Default::default()
        },
        mounts: Vec::new(),
        masked_paths: DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
        readonly_paths: DEFAULT_READONLY_PATHS
            .iter()
            .map(|p| p.to_string())
            .collect(),
        cgroup: CgroupSpec {
            path: format!("{parent}/{id}"),
            resources: CgroupResources::default(),
        },
        log: LogSpec::at(dir.join("state/0.log")),
        stdin: false,
        stdin_once: false,
    }
}

/// `crun spec`'s defaults with `/bin/true`, no terminal, our root and a
/// cgroup under the benchmark's parent.
fn write_bundle(bundle: &Path, layer: &Path, parent: &str, case: Case) -> anyhow::Result<()> {
    fs::create_dir_all(bundle)?;
    let status = Command::new("crun")
        .arg("spec")
        .current_dir(bundle)
        .status()
        .context("running crun spec")?;
    ensure!(status.success(), "crun spec failed");
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    config["process"]["terminal"] = serde_json::json!(false);
    config["root"] = serde_json::json!({"path": layer, "readonly": true});
    let leaf = if case == Case::Crun { "crun" } else { "runc" };
    config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{parent}/{leaf}"));
    fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

fn report(runs: usize, samples: &mut [Vec<Duration>]) {
    for s in samples.iter_mut() {
        s.sort();
    }
    let crun = Case::ALL.iter().position(|c| *c == Case::Crun).unwrap_or(0);
    let (crun_p50, crun_p90) = (
        percentile(&samples[crun], 0.5),
        percentile(&samples[crun], 0.9),
    );
    println!("create-to-exit of /bin/true, {runs} interleaved runs per case");
    println!(
        "{:<16} {:>10} {:>10} {:>12} {:>12}",
        "case", "median", "p90", "median/crun", "p90/crun"
    );
    for (case, s) in Case::ALL.iter().zip(samples.iter()) {
        let (p50, p90) = (percentile(s, 0.5), percentile(s, 0.9));
        println!(
            "{:<16} {:>8.2}ms {:>8.2}ms {:>11.2}x {:>11.2}x",
            case.name(),
            ms(p50),
            ms(p90),
            ms(p50) / ms(crun_p50),
            ms(p90) / ms(crun_p90)
        );
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A busybox root: `bin/busybox`, one relative symlink per applet.
fn busybox_layer(dir: &Path) -> anyhow::Result<PathBuf> {
    let layer = dir.join("layer");
    let bin = layer.join("bin");
    fs::create_dir_all(&bin)?;
    fs::create_dir_all(layer.join("etc"))?;
    fs::copy("/usr/bin/busybox", bin.join("busybox")).context("copying /usr/bin/busybox")?;
    let list = Command::new("/usr/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8(list.stdout)?.lines() {
        if applet != "busybox" {
            symlink("busybox", bin.join(applet))?;
        }
    }
    fs::write(layer.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(layer.join("etc/group"), "root:x:0:\n")?;
    Ok(layer)
}

/// This process (and everything it starts) in a mount namespace of its
/// own, propagation private, without `/sys/fs/cgroup/unified`.
fn private_mount_namespace_without_unified() -> anyhow::Result<()> {
    // SAFETY: plain syscalls with valid C strings; still single-threaded.
    unsafe {
        ensure!(
            libc::unshare(libc::CLONE_NEWNS) == 0,
            "unshare(CLONE_NEWNS): {}",
            std::io::Error::last_os_error()
        );
        let root = CString::new("/")?;
        ensure!(
            libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null()
            ) == 0,
            "making / private: {}",
            std::io::Error::last_os_error()
        );
        // Hide the hybrid host's unified hierarchy under a private tmpfs
        // (unmounting it alone would let crun write into the shared
        // /sys/fs/cgroup tmpfs beneath). Pure v1/v2 hosts lack the path.
        let unified = CString::new("/sys/fs/cgroup/unified")?;
        let tmpfs = CString::new("tmpfs")?;
        if Path::new("/sys/fs/cgroup/unified").is_dir() {
            ensure!(
                libc::mount(
                    tmpfs.as_ptr(),
                    unified.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    std::ptr::null()
                ) == 0,
                "hiding /sys/fs/cgroup/unified: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    fn new(name: String) -> anyhow::Result<NetnsGuard> {
        let status = Command::new("ip").args(["netns", "add", &name]).status()?;
        ensure!(status.success(), "ip netns add {name} failed");
        Ok(NetnsGuard { name })
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

struct CgroupParentGuard {
    path: String,
    cgroups: Cgroups,
}

impl Drop for CgroupParentGuard {
    fn drop(&mut self) {
        if let Err(e) = self.cgroups.remove(&self.path) {
            eprintln!("bench-runtime: removing cgroup {}: {e}", self.path);
        }
        // crun and runc also create it in hierarchies skiff does not use
        // (blkio, name=systemd): remove those leaf first.
        let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for hierarchy in hierarchies.flatten() {
            if hierarchy.file_name() == "unified" {
                continue; // our private tmpfs: it goes with this process
            }
            let dir = hierarchy.path().join(&self.path);
            if dir.is_dir() {
                remove_empty_tree(&dir);
            }
        }
    }
}

/// rmdir a cgroup directory tree, children first (cgroupfs directories
/// hold only the kernel's files, which rmdir takes with them).
fn remove_empty_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_tree(&entry.path());
            }
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        eprintln!("bench-runtime: removing {}: {e}", dir.display());
    }
}
