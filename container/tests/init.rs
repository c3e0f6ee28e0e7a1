//! Root tests: real containers started through `init::container_main`.
//!
//! Each test builds a busybox rootfs in a tempdir (one layer with
//! `/bin/busybox` and relative applet links, a second with a file), then
//! forks a child that unshares new mount, UTS, IPC, network and PID
//! namespaces and forks again, so `container_main` runs as PID 1 of the new
//! PID namespace (the monitor's clone does this in the product). All
//! mounts live in that child's mount namespace and vanish with it; the
//! tempdirs are removed on drop.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use skiff_container::init::{self, InitPipes, Stdio};
use skiff_container::spec::*;

const BUSYBOX: &str = "/usr/bin/busybox";

/// A busybox image as layer directories, bottom first.
struct Image {
    dir: tempfile::TempDir,
    layers: Vec<PathBuf>,
}

impl Image {
    fn busybox() -> Image {
        Image::with_layers(2)
    }

    /// The busybox layer, then `extra - 1` more: layer 1 has
    /// `/www/index.html`; every layer `i` has `/layers/i` and `/top`.
    fn with_layers(count: usize) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join(format!("layers-{}", "l".repeat(80)));
        let layers: Vec<PathBuf> = (0..count)
            .map(|i| base.join(format!("{i:02}-{}", "a".repeat(64))))
            .collect();
        for (i, layer) in layers.iter().enumerate() {
            std::fs::create_dir_all(layer.join("layers")).unwrap();
            std::fs::write(
                layer.join("layers").join(i.to_string()),
                format!("layer {i}\n"),
            )
            .unwrap();
            std::fs::write(layer.join("top"), format!("top is {i}\n")).unwrap();
        }
        make_busybox_layer(&layers[0]);
        if count > 1 {
            std::fs::create_dir_all(layers[1].join("www")).unwrap();
            std::fs::write(layers[1].join("www/index.html"), "hello from layer 1\n").unwrap();
        }
        Image { dir, layers }
    }

    /// A spec for `sh -c script` with fresh upper/work/merged dirs.
    fn spec(&self, script: &str) -> ContainerSpec {
        let run = tempfile::Builder::new()
            .prefix("c")
            .tempdir_in(self.dir.path())
            .unwrap()
            .keep();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir(run.join(d)).unwrap();
        }
        ContainerSpec {
            id: "c1".into(),
            rootfs: RootfsSpec {
                layers: self.layers.clone(),
                upper_dir: run.join("upper"),
                work_dir: run.join("work"),
                merged_dir: run.join("merged"),
                readonly: false,
            },
            process: ProcessSpec {
                args: vec!["sh".into(), "-c".into(), script.into()],
                env: vec!["PATH=/bin".into(), "HOME=/root".into()],
                cwd: "/".into(),
                user: UserSpec::default(),
                tty: false,
                capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
                no_new_privileges: true,
                seccomp: SeccompMode::RuntimeDefault,
                rlimits: vec![("RLIMIT_NOFILE".into(), DEFAULT_NOFILE, DEFAULT_NOFILE)],
                oom_score_adj: None,
                stop_signal: 15,
            },
            namespaces: NamespacesSpec {
                // The test child has its own netns: a marker, never opened.
                net: Some("/proc/self/ns/net".into()),
                hostname: Some("box1".into()),
                ..NamespacesSpec::default()
            },
            mounts: vec![],
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            cgroup: CgroupSpec::default(),
            log: LogSpec::at(run.join("log")),
            stdin: false,
            stdin_once: false,
        }
    }
}

fn make_busybox_layer(layer: &Path) {
    let bin = layer.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    std::fs::create_dir_all(layer.join("etc")).unwrap();
    std::fs::write(
        layer.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        layer.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
}

/// What a container run left behind.
#[derive(Debug)]
struct Outcome {
    /// stdout and stderr together.
    output: String,
    /// What the child wrote to the error pipe.
    error: String,
    /// The container process's exit code (128 + signal if killed).
    code: i32,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).unwrap();
    text
}

/// Run `spec` as PID 1 of new namespaces and collect its output. With
/// `spec.namespaces.user`, the child first prepares idmapped layers in a
/// private mount namespace (the monitor's job), then unshares a user
/// namespace whose maps the parent writes before the go byte.
fn run(spec: &ContainerSpec) -> Outcome {
    let (out_r, out_w) = pipe();
    let (go_r, go_w) = pipe();
    let (err_r, err_w) = pipe();
    let (ready_r, ready_w) = pipe();
    let null = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());

    // SAFETY: the child only calls async-signal-safe-enough code (glibc's
    // fork keeps malloc usable) and always ends in _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop((out_r, go_w, err_r, ready_r));
        let mut flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWPID;
        if let Some(mapping) = spec.namespaces.user {
            prepare_userns_child(spec, mapping);
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: no pointers.
        if unsafe { libc::unshare(flags) } != 0 {
            // SAFETY: exiting the forked child.
            unsafe { libc::_exit(90) };
        }
        let _ = std::fs::File::from(ready_w).write_all_ignoring_errors(b"r");
        // SAFETY: as above.
        let init = unsafe { libc::fork() };
        if init == 0 {
            let stdio = Stdio {
                stdin: null,
                stdout: out_w.try_clone().unwrap(),
                stderr: out_w,
                tty: false,
            };
            init::container_main(
                spec,
                stdio,
                InitPipes {
                    go: go_r,
                    error: err_w,
                },
            );
        }
        drop((out_w, go_r, err_w, null));
        std::process::exit(wait_for(init));
    }
    drop((out_w, go_r, err_w, null, ready_w));
    let ready = read_all(ready_r);
    if let Some(mapping) = spec.namespaces.user
        && ready == "r"
    {
        let line = format!("0 {} {}\n", mapping.host_id, mapping.size);
        std::fs::write(format!("/proc/{pid}/uid_map"), &line).unwrap();
        std::fs::write(format!("/proc/{pid}/gid_map"), &line).unwrap();
    }
    let _ = std::fs::File::from(go_w).write_all_ignoring_errors(b"g");
    let error = read_all(err_r);
    let output = read_all(out_r);
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status),
        "intermediate child status {status:#x}"
    );
    Outcome {
        output,
        error,
        code: libc::WEXITSTATUS(status),
    }
}

/// In the forked child: a private mount namespace with the layers, upper
/// and work dirs idmapped over themselves.
fn prepare_userns_child(spec: &ContainerSpec, mapping: IdMapping) {
    // SAFETY: no pointers but static strings.
    let ok = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    };
    if !ok {
        // SAFETY: exiting the forked child.
        unsafe { libc::_exit(91) };
    }
    if let Err(e) = init::prepare_idmapped_root(&spec.rootfs, mapping) {
        eprintln!("prepare_idmapped_root: {e}");
        // SAFETY: as above.
        unsafe { libc::_exit(92) };
    }
}

/// Wait up to 30 s for the container, then kill it; its exit code.
fn wait_for(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    for _ in 0..3000 {
        // SAFETY: our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    unsafe { libc::waitpid(pid, &mut status, 0) };
    124
}

trait WriteIgnoring {
    fn write_all_ignoring_errors(self, bytes: &[u8]) -> Option<()>;
}

impl WriteIgnoring for std::fs::File {
    /// The child may already have failed and closed its end.
    fn write_all_ignoring_errors(mut self, bytes: &[u8]) -> Option<()> {
        std::io::Write::write_all(&mut self, bytes).ok()
    }
}

fn run_ok(spec: &ContainerSpec) -> String {
    let outcome = run(spec);
    assert_eq!(outcome.error, "", "init failed: {outcome:?}");
    assert_eq!(outcome.code, 0, "{outcome:?}");
    outcome.output
}

/// `/proc/self/status` field of the shell itself (`$$`, not a child).
fn status_field(output: &str, field: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} missing in {output}"))
        .trim()
        .to_string()
}

fn cap_mask(names: &[&str]) -> String {
    let mut mask = 0u64;
    for name in names {
        let bit = init::CAPABILITY_NAMES
            .iter()
            .position(|n| n == name)
            .unwrap();
        mask |= 1 << bit;
    }
    format!("{mask:016x}")
}

#[test]
fn the_process_is_pid_1_of_a_busybox_root() {
    let image = Image::busybox();
    let mut spec = image.spec(
        "echo pid=$$; echo exe=$(readlink /proc/self/exe); cat /www/index.html; \
         echo host=$(hostname); echo cwd=$(pwd); ls /dev | tr '\\n' ' '; echo; \
         stat -c 'null %t:%T %a' /dev/null; grep -E ' /dev/pts | /dev/shm | /dev/mqueue | /sys ' /proc/mounts",
    );
    spec.process.cwd = "/work/dir".into();
    let out = run_ok(&spec);
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("exe=/bin/busybox\n"), "{out}");
    assert!(out.contains("hello from layer 1\n"), "{out}");
    assert!(out.contains("host=box1\n"), "{out}");
    assert!(out.contains("cwd=/work/dir\n"), "{out}");
    for node in [
        "full", "null", "ptmx", "pts", "random", "shm", "mqueue", "stdin", "stderr", "tty",
        "urandom", "zero", "fd",
    ] {
        assert!(
            out.contains(&format!(" {node} ")) || out.contains(&format!("{node} ")),
            "/dev/{node}: {out}"
        );
    }
    assert!(out.contains("null 1:3 666\n"), "{out}");
    let sys = out.lines().find(|l| l.contains(" /sys ")).unwrap();
    assert!(
        sys.starts_with("sysfs /sys sysfs ro,"),
        "a fresh read-only sysfs: {sys}"
    );
    let pts = out.lines().find(|l| l.contains(" /dev/pts ")).unwrap();
    assert!(
        pts.contains("gid=5") && pts.contains("mode=620") && pts.contains("ptmxmode=666"),
        "{pts}"
    );
}

#[test]
fn mount_unshare_and_raw_sockets_are_refused() {
    let image = Image::busybox();
    // CAP_SYS_ADMIN kept, so only the seccomp filter can stop mount/unshare.
    let script = "mkdir /mnt; mount -t tmpfs none /mnt 2>&1; echo mount=$?; \
                  unshare -n true 2>&1; echo unshare=$?; \
                  ping -c1 -W1 127.0.0.1 2>&1; echo ping=$?; \
                  grep -E '^(Seccomp|NoNewPrivs):' /proc/$$/status";
    let mut spec = image.spec(script);
    spec.process.capabilities.push("CAP_SYS_ADMIN".into());
    let out = run_ok(&spec);
    assert!(
        out.contains("mount=255") || out.contains("mount=1"),
        "{out}"
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(!out.contains("unshare=0"), "{out}");
    assert!(!out.contains("ping=0"), "{out}");
    assert!(
        out.to_lowercase().contains("permission denied") || out.contains("Operation not permitted"),
        "{out}"
    );
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");

    // The same without the filter: mount works, so the filter did it above.
    let mut unconfined = image.spec(
        "mkdir /mnt; mount -t tmpfs none /mnt 2>&1; echo mount=$?; grep ^Seccomp: /proc/$$/status",
    );
    unconfined.process.capabilities.push("CAP_SYS_ADMIN".into());
    unconfined.process.seccomp = SeccompMode::Unconfined;
    let out = run_ok(&unconfined);
    assert!(out.contains("mount=0"), "{out}");
    assert_eq!(status_field(&out, "Seccomp"), "0");
}

#[test]
fn masked_and_read_only_paths() {
    let image = Image::busybox();
    let out = run_ok(&image.spec(
        "for p in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts /proc/sched_debug; do \
           [ -e $p ] && stat -c '%n %s %t:%T' $p; done; \
         echo 1 > /proc/sys/kernel/domainname 2>&1; echo sysctl=$?; \
         echo ls-acpi=$(ls /proc/acpi | wc -l) ls-firmware=$(ls /sys/firmware | wc -l); \
         grep -E ' /proc/sys | /proc/sysrq-trigger | /proc/acpi | /sys/firmware ' /proc/mounts",
    ));
    let mut masked_files = 0;
    for file in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/interrupts",
        "/proc/sched_debug",
    ] {
        if Path::new(file).exists() {
            assert!(
                out.contains(&format!("{file} 0 1:3\n")),
                "{file} not /dev/null: {out}"
            );
            masked_files += 1;
        }
    }
    assert!(
        masked_files >= 2,
        "too few masked files exist to test: {out}"
    );
    for dir in ["/proc/acpi", "/sys/firmware"] {
        if Path::new(dir).is_dir() {
            let line = out
                .lines()
                .find(|l| l.contains(&format!(" {dir} ")))
                .unwrap_or_default();
            assert!(
                line.starts_with(&format!("tmpfs {dir} tmpfs ro,")),
                "{dir}: {out}"
            );
        }
    }
    assert!(out.contains("ls-acpi=0 ls-firmware=0\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!out.contains("sysctl=0"), "{out}");
    for ro in ["/proc/sys", "/proc/sysrq-trigger"]
        .iter()
        .filter(|p| Path::new(p).exists())
    {
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {ro} ")))
            .unwrap_or_default();
        assert!(line.contains(" ro,"), "{ro} not read-only: {out}");
    }
}

#[test]
fn capabilities_are_exactly_the_specs() {
    let image = Image::busybox();
    let script = "grep -E '^(Cap[A-Za-z]+|Seccomp|NoNewPrivs):' /proc/$$/status";
    let mut spec = image.spec(script);
    // Without no_new_privs the filter goes in before the caps are dropped.
    spec.process.no_new_privileges = false;
    let out = run_ok(&spec);
    let expected = cap_mask(DEFAULT_CAPABILITIES);
    assert_eq!(status_field(&out, "CapEff"), expected, "{out}");
    assert_eq!(status_field(&out, "CapPrm"), expected, "{out}");
    assert_eq!(status_field(&out, "CapBnd"), expected, "{out}");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");

    let mut small = image.spec(script);
    small.process.capabilities = vec!["CAP_KILL".into(), "net_bind_service".into()];
    let out = run_ok(&small);
    assert_eq!(
        status_field(&out, "CapEff"),
        cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );

    let mut unknown = image.spec(script);
    unknown.process.capabilities.push("CAP_TELEPORT".into());
    let outcome = run(&unknown);
    assert_eq!(
        outcome.error, "unknown capability \"CAP_TELEPORT\"\n",
        "{outcome:?}"
    );
}

#[test]
fn run_as_user_resolves_ids_and_groups() {
    let image = Image::busybox();
    let script = "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); grep -E '^Cap(Eff|Bnd):' /proc/$$/status; \
                  touch /root-owned 2>&1; echo touch=$?";
    let mut spec = image.spec(script);
    spec.process.user = UserSpec {
        uid: Some(1000),
        gid: None,
        name: None,
        additional_gids: vec![2000],
    };
    let out = run_ok(&spec);
    let ids = out.lines().find(|l| l.starts_with("uid=")).unwrap();
    let (head, groups) = ids.split_once(" groups=").unwrap();
    assert_eq!(head, "uid=1000 gid=1000");
    let mut groups: Vec<&str> = groups.split(' ').collect();
    groups.sort_unstable();
    assert_eq!(groups, ["1000", "2000", "50"], "{out}");
    // A non-root process keeps no effective capabilities across exec.
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&out, "CapBnd"), cap_mask(DEFAULT_CAPABILITIES));
    assert!(!out.contains("touch=0"), "{out}");

    let mut by_name = image.spec("echo uid=$(id -u) gid=$(id -g)");
    by_name.process.user.name = Some("app:staff".into());
    assert!(run_ok(&by_name).contains("uid=1000 gid=50\n"));

    let mut unknown = image.spec("true");
    unknown.process.user.name = Some("nginx".into());
    let outcome = run(&unknown);
    assert_eq!(
        outcome.error,
        "user \"nginx\" not found in the container's /etc/passwd\n"
    );
    assert_eq!(outcome.code, 1);
}

#[test]
fn sixty_layers_mount_in_order() {
    let image = Image::with_layers(60);
    let total: usize = image.layers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(
        total > 4096,
        "the layer paths must not fit in one mount(2) option page"
    );
    let out = run_ok(&image.spec(
        "cat /layers/0 /layers/59 /top; ls /layers | wc -l; grep ' / ' /proc/mounts | cut -c1-300",
    ));
    assert!(out.contains("layer 0\nlayer 59\ntop is 59\n60\n"), "{out}");
    // One lowerdir+ per layer (the new mount API), top first.
    let root = out
        .lines()
        .find(|l| l.starts_with("overlay / overlay "))
        .unwrap();
    let top = format!("lowerdir+={}", image.layers[59].display());
    assert!(root.contains(&top), "{root}");
}

#[test]
fn a_bad_command_is_reported_through_the_error_pipe() {
    let image = Image::busybox();
    let mut spec = image.spec("");
    spec.process.args = vec!["no-such-command".into()];
    let outcome = run(&spec);
    assert_eq!(
        outcome.error,
        "executable \"no-such-command\" not found in the container's PATH \"/bin\"\n"
    );
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.output, "");

    spec.process.args = vec!["/bin/missing".into()];
    let outcome = run(&spec);
    assert_eq!(
        outcome.error,
        "exec /bin/missing: ENOENT (No such file or directory)\n"
    );
}

#[test]
fn read_only_root_with_binds_and_tmpfs() {
    let image = Image::busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hostname"), "pod-a\n").unwrap();
    std::fs::create_dir(host.path().join("data")).unwrap();
    let mut spec = image.spec(
        "touch /new 2>&1; echo root=$?; cat /etc/hostname; echo x > /etc/hostname; echo hn=$?; \
         echo hi > /data/f; echo data=$?; touch /scratch/a; echo scratch=$?; \
         touch /dev/shm/s; echo shm=$?; grep -E ' /scratch | /dev/shm ' /proc/mounts",
    );
    spec.rootfs.readonly = true;
    spec.mounts = vec![
        MountSpec {
            destination: "/etc/hostname".into(),
            kind: MountKind::Bind {
                source: host.path().join("hostname"),
            },
            readonly: true,
        },
        MountSpec {
            destination: "/data".into(),
            kind: MountKind::Bind {
                source: host.path().join("data"),
            },
            readonly: false,
        },
        MountSpec {
            destination: "/scratch/deep".into(),
            kind: MountKind::Tmpfs {
                options: "size=1m,mode=1777".into(),
            },
            readonly: false,
        },
        MountSpec {
            destination: "/dev/shm".into(),
            kind: MountKind::Tmpfs {
                options: "size=2m".into(),
            },
            readonly: false,
        },
    ];
    spec.process.args[2] = spec.process.args[2].replace("/scratch/a", "/scratch/deep/a");
    let out = run_ok(&spec);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!out.contains("root=0"), "{out}");
    assert!(out.contains("pod-a\n"), "{out}");
    assert!(!out.contains("hn=0"), "{out}");
    assert!(out.contains("data=0"), "{out}");
    assert!(out.contains("scratch=0"), "{out}");
    assert!(out.contains("shm=0"), "{out}");
    let shm = out.lines().find(|l| l.contains(" /dev/shm ")).unwrap();
    assert!(
        shm.contains("size=2048k"),
        "the spec's /dev/shm replaces the default: {shm}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("data/f")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("hostname")).unwrap(),
        "pod-a\n"
    );
}

/// `exec_process` alone, in a forked child whose root is the host's (the
/// product calls it after joining a container's namespaces).
fn run_exec(process: &ProcessSpec, stdio: impl FnOnce() -> Stdio, read_from: OwnedFd) -> Outcome {
    let (err_r, err_w) = pipe();
    // SAFETY: the child ends in exec_process or _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(err_r);
        // A stray inherited fd without CLOEXEC must not reach the process.
        // SAFETY: dup2 onto an unused number.
        unsafe { libc::dup2(1, 50) };
        init::exec_process(process, stdio(), err_w);
    }
    // The parent's copies of the child's stdio, or reads never end.
    drop((err_w, stdio));
    let error = read_all(err_r);
    let mut output = Vec::new();
    // A pty master reads EIO once the slave side is gone: that is the end.
    let _ = std::fs::File::from(read_from).read_to_end(&mut output);
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Outcome {
        output: String::from_utf8_lossy(&output).into_owned(),
        error,
        code: libc::WEXITSTATUS(status),
    }
}

fn host_process(script: &str, cwd: &Path) -> ProcessSpec {
    ProcessSpec {
        args: vec!["busybox".into(), "sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/usr/bin:/bin".into()],
        cwd: cwd.to_str().unwrap().into(),
        user: UserSpec {
            uid: Some(1000),
            gid: Some(1000),
            name: None,
            additional_gids: vec![],
        },
        tty: false,
        capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        no_new_privileges: true,
        seccomp: SeccompMode::RuntimeDefault,
        rlimits: vec![("RLIMIT_NOFILE".into(), 4096, 4096)],
        oom_score_adj: Some(500),
        stop_signal: 15,
    }
}

#[test]
fn exec_process_applies_the_same_hardening() {
    let cwd = tempfile::tempdir().unwrap();
    let process = host_process(
        "echo uid=$(id -u) cwd=$(pwd) nofile=$(ulimit -n) oom=$(cat /proc/$$/oom_score_adj); \
         ls /proc/$$/fd | tr '\\n' ' '; echo; grep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/$$/status",
        cwd.path(),
    );
    let (out_r, out_w) = pipe();
    let outcome = run_exec(
        &process,
        || Stdio {
            stdin: OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
            stdout: out_w.try_clone().unwrap(),
            stderr: out_w,
            tty: false,
        },
        out_r,
    );
    assert_eq!(outcome.error, "", "{outcome:?}");
    let out = outcome.output;
    let expected = format!(
        "uid=1000 cwd={} nofile=4096 oom=500\n",
        cwd.path().display()
    );
    assert!(out.contains(&expected), "{out}");
    assert!(!out.contains(" 50 "), "fd 50 leaked: {out}");
    assert_eq!(status_field(&out, "CapBnd"), cap_mask(DEFAULT_CAPABILITIES));
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");

    let mut missing = host_process("true", &cwd.path().join("gone"));
    missing.user = UserSpec::default();
    let (out_r, out_w) = pipe();
    let outcome = run_exec(
        &missing,
        || Stdio {
            stdin: OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
            stdout: out_w.try_clone().unwrap(),
            stderr: out_w,
            tty: false,
        },
        out_r,
    );
    let expected = format!(
        "chdir to the working directory {}: ENOENT (No such file or directory)\n",
        cwd.path().join("gone").display()
    );
    assert_eq!(outcome.error, expected);
    assert_eq!(outcome.code, 1);
}

#[test]
fn exec_process_with_a_terminal_gets_a_session_and_controlling_tty() {
    let cwd = tempfile::tempdir().unwrap();
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two fds.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: fresh fds owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut process = host_process(
        "tty; echo pid=$$ sid=$(cut -d' ' -f6 /proc/$$/stat) tty_nr_set=$(cut -d' ' -f7 /proc/$$/stat | grep -vx 0 | wc -l)",
        cwd.path(),
    );
    process.tty = true;
    let child_slave = slave.try_clone().unwrap();
    let outcome = run_exec(
        &process,
        move || Stdio {
            stdin: child_slave.try_clone().unwrap(),
            stdout: child_slave.try_clone().unwrap(),
            stderr: child_slave,
            tty: true,
        },
        {
            drop(slave);
            master
        },
    );
    assert_eq!(outcome.error, "", "{outcome:?}");
    let out = outcome.output.replace('\r', "");
    assert!(out.contains("/dev/pts/"), "{out}");
    let line = out.lines().find(|l| l.starts_with("pid=")).unwrap();
    let (pid, rest) = line.trim_start_matches("pid=").split_once(" sid=").unwrap();
    let (sid, tty) = rest.split_once(' ').unwrap();
    assert_eq!(pid, sid, "the process leads its own session: {out}");
    assert_eq!(tty, "tty_nr_set=1", "a controlling terminal: {out}");
}

#[test]
fn user_namespace_root_is_an_unprivileged_host_id() {
    let image = Image::busybox();
    let mut spec = image.spec(
        "echo uid=$(id -u) gid=$(id -g); cat /proc/self/uid_map; stat -c 'busybox %u:%g' /bin/busybox; \
         echo hi > /made-inside; echo write=$?; stat -c 'made %u:%g' /made-inside; \
         grep -E '^CapEff:' /proc/$$/status; stat -c 'null %t:%T' /dev/null; echo pid=$$",
    );
    spec.namespaces.user = Some(IdMapping {
        host_id: 100_000,
        size: 65_536,
    });
    let upper = spec.rootfs.upper_dir.clone();
    let out = run_ok(&spec);
    assert!(out.contains("uid=0 gid=0\n"), "{out}");
    let map: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"], "{out}");
    // The idmapped layers show the image's root-owned files as root's.
    assert!(out.contains("busybox 0:0\n"), "{out}");
    assert!(out.contains("write=0\nmade 0:0\n"), "{out}");
    assert_eq!(status_field(&out, "CapEff"), cap_mask(DEFAULT_CAPABILITIES));
    assert!(out.contains("null 1:3\n"), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    // On the host the write landed in the upper dir as host root (the
    // idmapped upper maps the container's root back).
    let made = std::fs::metadata(upper.join("made-inside")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&made), 0);
}
