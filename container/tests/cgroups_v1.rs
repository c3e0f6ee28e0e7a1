//! Real cgroups on this host through [`Cgroups::detect`]: on CI that is the
//! hybrid layout (v1 controllers), on a pure v2 host the same tests drive
//! v2. Needs root (CI is root); without it each test says so and returns.
//! Every test makes its own `skiff-test-<pid>-<n>` parent, removed by a
//! Drop guard even when an assertion fails.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use skiff_container::cgroups::{CgroupVersion, Cgroups, V1_DEVICES_ALLOWED};
use skiff_container::spec::CgroupResources;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A test's own cgroup parent; dropping it kills and removes everything.
struct TestCgroup {
    cg: Cgroups,
    parent: String,
}

impl TestCgroup {
    /// None (with a message) when not root.
    fn new(test: &str) -> Option<TestCgroup> {
        TestCgroup::on(test, || {
            Cgroups::detect().expect("detect the host's cgroups")
        })
    }

    fn on(test: &str, cgroups: impl FnOnce() -> Cgroups) -> Option<TestCgroup> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("{test}: needs root to manage real cgroups; not run");
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let parent = format!("skiff-test-{}-{n}", std::process::id());
        Some(TestCgroup {
            cg: cgroups(),
            parent,
        })
    }

    fn path(&self, child: &str) -> String {
        format!("{}/{child}", self.parent)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.cg.remove(&self.parent) {
            eprintln!("cleanup of {}: {e}", self.parent);
        }
    }
}

/// Starts `sh -c SCRIPT` held at a `read` until it is in `path`, so nothing
/// runs (or allocates) outside the cgroup. Runs at nice 0 even under a
/// niced test run, so the machine's load does not starve it.
fn spawn_in(cg: &Cgroups, path: &str, script: &str) -> Child {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read _ go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh");
    let pid = child.id() as i32;
    // SAFETY: setpriority takes plain integers; root may lower niceness.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, 0);
    }
    if let Err(e) = cg.add_process(path, pid) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("add {pid} to {path}: {e}");
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\n").unwrap();
    child
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Polls `cond` every 5 ms for up to `secs`.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Gone, or a zombie waiting for its (new) parent.
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[test]
fn detect_matches_the_host() {
    let cg = Cgroups::detect().unwrap();
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let expected = if unified {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    };
    assert_eq!(cg.version(), expected);
}

#[test]
fn cpu_limit_caps_a_busy_loop() {
    let Some(t) = TestCgroup::new("cpu_limit_caps_a_busy_loop") else {
        return;
    };
    let path = t.path("busy");
    let res = CgroupResources {
        cpu_limit_milli: Some(200),
        ..Default::default()
    };
    t.cg.create(&path, &res).unwrap();
    let mut child = spawn_in(&t.cg, &path, "while :; do :; done");
    let before = t.cg.stats(&path).unwrap().cpu_usage_nanos;
    let start = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    let after = t.cg.stats(&path).unwrap();
    let cpus = (after.cpu_usage_nanos - before) as f64 / start.elapsed().as_nanos() as f64;
    assert_eq!(after.pids_current, 1);
    t.cg.kill_all(&path).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    eprintln!("200m limit: {cpus:.3} CPU");
    assert!(
        (0.12..=0.30).contains(&cpus),
        "200m limit gave {cpus:.3} CPU"
    );
}

#[test]
fn memory_limit_gets_a_hog_oom_killed() {
    let Some(t) = TestCgroup::new("memory_limit_gets_a_hog_oom_killed") else {
        return;
    };
    let path = t.path("hog");
    let res = CgroupResources {
        memory_limit_bytes: Some(32 << 20),
        ..Default::default()
    };
    t.cg.create(&path, &res).unwrap();
    assert_eq!(t.cg.oom_kills(&path).unwrap(), 0);
    // The shell keeps ~100 MiB of command output in its own memory.
    let mut child = spawn_in(
        &t.cg,
        &path,
        r"x=$(head -c 104857600 /dev/zero | tr '\000' a); echo ${#x}",
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let oom_kills = t.cg.oom_kills(&path).unwrap();
    assert!(oom_kills >= 1, "oom_kills = {oom_kills}");
    assert_eq!(t.cg.stats(&path).unwrap().oom_kills, oom_kills);
}

#[test]
fn pids_limit_makes_fork_fail() {
    let Some(t) = TestCgroup::new("pids_limit_makes_fork_fail") else {
        return;
    };
    let path = t.path("forker");
    let res = CgroupResources {
        pids_limit: Some(10),
        ..Default::default()
    };
    t.cg.create(&path, &res).unwrap();
    let mut child = spawn_in(
        &t.cg,
        &path,
        // The sleeps must not hold the stderr pipe open.
        "i=0; while [ $i -lt 30 ]; do sleep 300 2>/dev/null & i=$((i+1)); done; wait",
    );
    let status = child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert!(!status.success(), "30 forks under pids.max=10 succeeded");
    assert!(stderr.to_lowercase().contains("fork"), "stderr: {stderr}");
    // The sleeps that did start (at most 9 beside the shell) remain.
    let left = t.cg.pids(&path).unwrap();
    assert!(!left.is_empty() && left.len() <= 9, "{left:?}");
    assert!(t.cg.stats(&path).unwrap().pids_current <= 10);
}

#[test]
fn kill_all_kills_every_process_below_and_remove_leaves_nothing() {
    let Some(t) = TestCgroup::new("kill_all_kills_every_process_below") else {
        return;
    };
    let (a, b) = (t.path("pod/a"), t.path("pod/b"));
    for path in [&a, &b] {
        t.cg.create(path, &CgroupResources::default()).unwrap();
    }
    let mut children = vec![
        spawn_in(&t.cg, &a, "sleep 300 & sleep 300 & wait"),
        spawn_in(&t.cg, &b, "sleep 300 & wait"),
    ];
    assert!(eventually(5, || t.cg.pids(&a).unwrap().len() == 3
        && t.cg.pids(&b).unwrap().len() == 2));
    let mut all = t.cg.pids(&a).unwrap();
    all.extend(t.cg.pids(&b).unwrap());

    t.cg.kill_all(&t.parent).unwrap();
    assert!(t.cg.pids(&a).unwrap().is_empty());
    assert!(t.cg.pids(&b).unwrap().is_empty());
    for child in &mut children {
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
    for pid in all {
        assert!(
            eventually(2, || is_dead(pid)),
            "pid {pid} survived kill_all"
        );
    }

    let dirs = t.cg.dirs(&t.parent).unwrap();
    t.cg.remove(&t.parent).unwrap();
    assert!(!t.cg.exists(&t.parent));
    for dir in dirs {
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
}

#[test]
fn remove_kills_what_still_runs() {
    let Some(t) = TestCgroup::new("remove_kills_what_still_runs") else {
        return;
    };
    let path = t.path("busy");
    t.cg.create(&path, &CgroupResources::default()).unwrap();
    let mut child = spawn_in(&t.cg, &path, "sleep 300");
    assert!(eventually(5, || t.cg.pids(&path).unwrap().len() == 2));
    t.cg.remove(&t.parent).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!t.cg.exists(&path) && !t.cg.exists(&t.parent));
    // Missing is fine.
    t.cg.remove(&t.parent).unwrap();
}

#[test]
fn stats_and_update_on_a_live_cgroup() {
    let Some(t) = TestCgroup::new("stats_and_update_on_a_live_cgroup") else {
        return;
    };
    let path = t.path("live");
    let res = CgroupResources {
        cpu_limit_milli: Some(500),
        cpu_request_milli: Some(100),
        memory_limit_bytes: Some(64 << 20),
        pids_limit: Some(20),
    };
    t.cg.create(&path, &res).unwrap();
    // Some work (8 MiB through a pipe), then one idle process.
    let mut child = spawn_in(
        &t.cg,
        &path,
        "head -c 8388608 /dev/zero | tail -c 1 >/dev/null; exec sleep 300",
    );
    let sleeping = || {
        let pids = t.cg.pids(&path).unwrap();
        pids.len() == 1
            && std::fs::read_to_string(format!("/proc/{}/comm", pids[0]))
                .is_ok_and(|comm| comm.trim() == "sleep")
    };
    assert!(eventually(5, sleeping));
    let stats = t.cg.stats(&path).unwrap();
    assert!(stats.cpu_usage_nanos > 0, "{stats:?}");
    assert!(stats.memory_usage_bytes > 0, "{stats:?}");
    assert!(stats.memory_working_set_bytes <= stats.memory_usage_bytes);
    assert_eq!(stats.pids_current, 1);
    // Raise and cut the memory limit while it runs (memsw ordering on v1),
    // then lift every limit.
    for bytes in [128 << 20, 48 << 20] {
        let res = CgroupResources {
            memory_limit_bytes: Some(bytes),
            ..res
        };
        t.cg.update(&path, &res).unwrap();
    }
    t.cg.update(&path, &CgroupResources::default()).unwrap();
    if t.cg.version() == CgroupVersion::V1 {
        let dir = &t.cg.dirs(&path).unwrap();
        let memory = dir
            .iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/memory"))
            .unwrap();
        let limit = std::fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap();
        assert!(limit.trim().parse::<u64>().unwrap() > 1 << 60, "{limit}");
    }
    t.cg.kill_all(&path).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn v1_devices_allowlist_is_enforced() {
    let Some(t) = TestCgroup::new("v1_devices_allowlist_is_enforced") else {
        return;
    };
    if t.cg.version() != CgroupVersion::V1 {
        eprintln!("the devices allowlist is v1-only (v2 needs eBPF); host is v2");
        return;
    }
    let path = t.path("dev");
    t.cg.create(&path, &CgroupResources::default()).unwrap();
    let devices =
        t.cg.dirs(&path)
            .unwrap()
            .into_iter()
            .find(|d| d.join("devices.list").exists())
            .expect("a devices hierarchy");
    let listed = std::fs::read_to_string(devices.join("devices.list")).unwrap();
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    let mut expected = V1_DEVICES_ALLOWED.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    // /dev/null (1:3) opens, /dev/kmsg (1:11) does not.
    let mut child = spawn_in(&t.cg, &path, ": </dev/null && echo ok; : </dev/kmsg");
    let status = child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert!(!status.success(), "opening /dev/kmsg was allowed");
    assert!(
        stderr.contains("kmsg") && !stderr.contains("null"),
        "{stderr}"
    );
    // A second create keeps the rules (and needs no "deny all" again).
    t.cg.create(&path, &CgroupResources::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(devices.join("devices.list"))
            .unwrap()
            .lines()
            .count(),
        V1_DEVICES_ALLOWED.len()
    );
}

#[test]
fn v1_cpuset_is_filled_so_processes_can_join() {
    let Some(t) = TestCgroup::new("v1_cpuset_is_filled") else {
        return;
    };
    if t.cg.version() != CgroupVersion::V1 {
        eprintln!("cpuset filling is v1-only; host is v2");
        return;
    }
    let path = t.path("a/b");
    t.cg.create(&path, &CgroupResources::default()).unwrap();
    let cpuset =
        t.cg.dirs(&path)
            .unwrap()
            .into_iter()
            .find(|d| d.join("cpuset.cpus").exists())
            .expect("a cpuset hierarchy");
    let cpus = std::fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap();
    let root_cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    assert_eq!(cpus, root_cpus);
    let mut child = spawn_in(&t.cg, &path, "exit 7");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The v2 mechanics for real: on a pure v2 host its root, on a hybrid one
/// the (controller-less) unified hierarchy. A child is cloned straight into
/// the cgroup through [`Cgroups::dir_fd`], then killed via `cgroup.kill`.
#[test]
fn v2_clone_into_cgroup_kill_and_remove() {
    let host = Cgroups::detect().unwrap();
    let root = match host.version() {
        CgroupVersion::V2 => Path::new("/sys/fs/cgroup"),
        CgroupVersion::V1 => Path::new("/sys/fs/cgroup/unified"),
    };
    if !root.join("cgroup.controllers").exists() {
        eprintln!("no cgroup2 hierarchy on this host; v2 is covered by the fake-tree unit tests");
        return;
    }
    let Some(t) = TestCgroup::on("v2_clone_into_cgroup_kill_and_remove", || {
        Cgroups::v2_at(root)
    }) else {
        return;
    };
    let path = t.path("ctr");
    t.cg.create(&path, &CgroupResources::default()).unwrap();
    let fd = t.cg.dir_fd(&path).unwrap().expect("v2 has a dir fd");
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: std::os::fd::AsRawFd::as_raw_fd(&fd) as u64,
        ..Default::default()
    };
    // SAFETY: a fork-like clone3 (no CLONE_VM); the child only calls pause(2)
    // until it is killed, touching no lock the parent's threads might hold.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    }
    assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
    let pid = pid as i32;
    let born_in = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let reaped = || {
        let mut status = 0;
        // SAFETY: waitpid on our own child, status is a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        (rc, status)
    };
    if t.cg.pids(&path).unwrap() != [pid] {
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        reaped();
        panic!("child {pid} is not in {path}; its /proc/pid/cgroup: {born_in}");
    }
    assert!(
        born_in.lines().any(|l| l == format!("0::/{path}")),
        "{born_in}"
    );

    t.cg.kill_all(&t.parent).unwrap();
    let (rc, status) = reaped();
    assert_eq!(rc, pid);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    t.cg.remove(&t.parent).unwrap();
    assert!(!t.cg.exists(&t.parent) && !root.join(&t.parent).exists());
}
