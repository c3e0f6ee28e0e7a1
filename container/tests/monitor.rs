//! The monitor for real (root): busybox containers started through
//! `skiff-container-helper container-monitor`, in a network namespace and
//! cgroup parent of each test's own.

mod support;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use skiff_container::logs::{LogReader, ReadOptions};
use skiff_container::state::{self, Status};
use support::{HELPER, TestContainer};

fn read_log(container: &TestContainer, opts: &ReadOptions) -> String {
    let mut reader = LogReader::open(&container.spec.log.path, opts).unwrap();
    String::from_utf8(reader.read_available().unwrap()).unwrap()
}

#[test]
fn exit_code_and_both_streams_are_recorded() {
    let c = TestContainer::new(&["sh", "-c", "echo hi; echo err >&2; exit 3"]);
    c.start_ok();
    let exit = c.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.signal, None);
    assert!(!exit.oom_killed);
    assert!(exit.started_at.unwrap() <= exit.finished_at);
    let raw = fs::read_to_string(&c.spec.log.path).unwrap();
    assert!(raw.lines().any(|l| l.ends_with(" stdout F hi")), "{raw}");
    assert!(raw.lines().any(|l| l.ends_with(" stderr F err")), "{raw}");
    let shown = read_log(&c, &ReadOptions::default());
    assert!(shown == "hi\nerr\n" || shown == "err\nhi\n", "{shown:?}");
    assert!(!c.cgroup_exists(), "the container's cgroup is left behind");
    assert_eq!(state::monitor_pid(&c.state_dir()), None);
}

#[test]
fn failed_start_reports_why_and_leaves_nothing() {
    let c = TestContainer::new(&["/bin/no-such-program"]);
    let out = c.start();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-program"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    match c.status() {
        Status::Failed { message } => assert!(message.contains("no-such-program"), "{message}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(!c.cgroup_exists());
    assert_eq!(state::container_pid(&c.state_dir()), None);
}

#[test]
fn monitor_outlives_the_process_that_started_it() {
    let c = TestContainer::new(&["sh", "-c", "sleep 1; echo done"]);
    fs::write(
        c.state_dir().join("spec.json"),
        serde_json::to_vec(&c.spec).unwrap(),
    )
    .unwrap();
    // The starter's parent dies with SIGKILL right after the start.
    let status = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" container-monitor \"$1\" && kill -9 $$")
        .arg(HELPER)
        .arg(c.state_dir())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), None, "the starter's parent was to be killed");
    let monitor = state::monitor_pid(&c.state_dir()).expect("monitor running");
    let stat = fs::read_to_string(format!("/proc/{monitor}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(
        fields[3],
        monitor.to_string(),
        "the monitor leads its own session"
    );
    let exit = c.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.exit_code, 0);
    assert_eq!(read_log(&c, &ReadOptions::default()), "done\n");
}

#[test]
fn sigkill_ends_a_container_that_ignores_sigterm() {
    let c = TestContainer::new(&["sleep", "1000"]);
    c.start_ok();
    let Status::Running { pid, .. } = c.status() else {
        panic!("expected Running, got {:?}", c.status());
    };
    assert_eq!(state::container_pid(&c.state_dir()), Some(pid));
    let monitor = state::monitor_pid(&c.state_dir()).unwrap();
    let status = fs::read_to_string(format!("/proc/{monitor}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    eprintln!("monitor RSS: {rss_kib} KiB");
    assert!(rss_kib < 8 * 1024, "a monitor takes {rss_kib} KiB");
    // busybox sleep as PID 1 has no SIGTERM handler: the kernel drops it.
    state::signal_container(&c.state_dir(), libc::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(c.status(), Status::Running { .. }));
    state::signal_container(&c.state_dir(), libc::SIGKILL).unwrap();
    let exit = c.wait_exit(Duration::from_secs(10));
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed),
        (137, Some(9), false)
    );
    assert!(state::signal_container(&c.state_dir(), libc::SIGKILL).is_err());
}

#[test]
fn output_rotates_and_reads_back_in_order() {
    let c = {
        let mut c = TestContainer::new(&[
            "sh",
            "-c",
            "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done",
        ]);
        c.spec.log.max_size_bytes = 4096;
        c.spec.log.max_files = 20;
        c
    };
    c.start_ok();
    assert_eq!(c.wait_exit(Duration::from_secs(10)).exit_code, 0);
    let first_rotated = format!("{}.1", c.spec.log.path.display());
    assert!(fs::metadata(&first_rotated).is_ok(), "no rotation happened");
    for entry in fs::read_dir(c.spec.log.path.parent().unwrap()).unwrap() {
        assert!(entry.unwrap().metadata().unwrap().len() <= 4096);
    }
    let expected: String = (0..400)
        .map(|i| format!("line-{i}-padding-padding-padding\n"))
        .collect();
    assert!(expected.len() > 10 * 1024);
    assert_eq!(read_log(&c, &ReadOptions::default()), expected);
    let tail = ReadOptions {
        tail_lines: Some(3),
        ..Default::default()
    };
    let expected_tail: String = (397..400)
        .map(|i| format!("line-{i}-padding-padding-padding\n"))
        .collect();
    assert_eq!(read_log(&c, &tail), expected_tail);
}

fn exec(c: &TestContainer, command: &[&str]) -> (i32, String, String) {
    let out = Command::new(HELPER)
        .arg("container-exec")
        .arg(c.state_dir())
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exec_joins_the_container_root_and_pid_namespace() {
    let c = TestContainer::new(&["sleep", "1000"]);
    c.start_ok();
    let (code, out, err) = exec(&c, &["cat", "/etc/skiff-marker"]);
    assert_eq!((code, out.as_str()), (0, "only-in-the-layer\n"), "{err}");
    let (code, out, err) = exec(&c, &["cat", "/proc/1/cmdline"]);
    assert_eq!((code, out.as_str()), (0, "sleep\x001000\x00"), "{err}");
    let (code, out, _) = exec(&c, &["hostname"]);
    assert_eq!((code, out.as_str()), (0, "testbox\n"));
    let (code, _, _) = exec(&c, &["sh", "-c", "exit 7"]);
    assert_eq!(code, 7);
    let (code, _, err) = exec(&c, &["/bin/no-such-program"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("no-such-program"), "{err}");
    // The container itself is unaffected.
    assert!(matches!(c.status(), Status::Running { .. }));
}

#[test]
fn exec_into_a_stopped_container_is_refused() {
    let c = TestContainer::new(&["true"]);
    c.start_ok();
    c.wait_exit(Duration::from_secs(10));
    let (code, _, err) = exec(&c, &["true"]);
    assert_eq!(code, 126);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn memory_limit_kill_is_reported_as_oom() {
    let mut c = TestContainer::new(&["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]);
    c.spec.cgroup.resources.memory_limit_bytes = Some(32 * 1024 * 1024);
    c.start_ok();
    let exit = c.wait_exit(Duration::from_secs(20));
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed),
        (137, Some(9), true)
    );
    assert!(!c.cgroup_exists());
}

#[test]
fn stdin_fifo_reaches_the_container() {
    let mut c = TestContainer::new(&["sh", "-c", "read line; echo got:$line"]);
    c.spec.stdin = true;
    c.start_ok();
    let fifo = c.state_dir().join(state::STDIN_FIFO);
    {
        let mut writer = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        use std::io::Write;
        writer.write_all(b"hello\n").unwrap();
    }
    let exit = c.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.exit_code, 0);
    assert_eq!(read_log(&c, &ReadOptions::default()), "got:hello\n");
    assert!(!fifo.exists(), "the FIFO outlived the container");
}

#[test]
fn tty_output_is_logged_as_stdout() {
    let mut c = TestContainer::new(&["sh", "-c", "[ -t 1 ] && [ -t 2 ] && echo on-a-tty >&2"]);
    c.spec.process.tty = true;
    c.start_ok();
    assert_eq!(c.wait_exit(Duration::from_secs(10)).exit_code, 0);
    let raw = fs::read_to_string(&c.spec.log.path).unwrap();
    // A terminal turns "\n" into "\r\n"; the kubelet keeps the "\r" too.
    assert!(raw.ends_with(" stdout F on-a-tty\r\n"), "{raw:?}");
}

#[test]
fn killing_the_monitor_kills_the_container_and_reports_a_lost_exit() {
    let c = TestContainer::new(&["sleep", "1000"]);
    c.start_ok();
    let monitor = state::monitor_pid(&c.state_dir()).expect("monitor running");
    let container = state::container_pid(&c.state_dir()).expect("container running");
    // SAFETY: plain kill of the monitor this test started.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state::container_pid(&c.state_dir()).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "container {container} outlived its monitor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let exit = c.wait_exit(Duration::from_secs(5));
    assert_eq!((exit.exit_code, exit.signal), (137, Some(9)));
    assert_eq!(
        c.status(),
        Status::Exited(exit),
        "the lost exit is recorded once"
    );
}

#[test]
fn time_namespace_shifts_the_container_clocks() {
    let mut c = TestContainer::new(&["cat", "/proc/uptime"]);
    let ten_days = 10 * 86_400;
    c.spec.namespaces.time_offset_seconds = Some(ten_days);
    c.start_ok();
    assert_eq!(c.wait_exit(Duration::from_secs(10)).exit_code, 0);
    let shown = read_log(&c, &ReadOptions::default());
    let uptime: f64 = shown.split_whitespace().next().unwrap().parse().unwrap();
    let host: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uptime >= ten_days as f64 && uptime <= host + ten_days as f64 + 1.0,
        "{shown}"
    );
}

#[test]
fn user_namespace_maps_root_to_the_given_range() {
    let mut c = TestContainer::new(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    c.spec.namespaces.user = Some(skiff_container::spec::IdMapping {
        host_id: 100_000,
        size: 65_536,
    });
    c.start_ok();
    let exit = c.wait_exit(Duration::from_secs(10));
    let shown = read_log(&c, &ReadOptions::default());
    assert_eq!(exit.exit_code, 0, "{shown}");
    let words: Vec<&str> = shown.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "100000", "65536", "0", "100000", "65536", "0"],
        "{shown}"
    );
}

#[test]
fn exec_with_a_terminal_gets_it_as_controlling_tty() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let c = TestContainer::new(&["sleep", "1000"]);
    c.start_ok();
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; no name, termios or winsize.
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
    // SAFETY: openpty just returned these two fds to us alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = Command::new(HELPER)
        .arg("container-exec")
        .arg(c.state_dir())
        .args([
            "--tty",
            "--",
            "sh",
            "-c",
            "[ -t 0 ] && [ -t 1 ] && echo tty_nr=$(cut -d' ' -f7 /proc/$$/stat) pid=$$",
        ])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut out = Vec::new();
    // Everything written is buffered in the pty; EIO once it is drained.
    let mut master = fs::File::from(master);
    let mut buf = [0u8; 4096];
    // SAFETY: fcntl on our own fd.
    unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::F_SETFL,
            libc::O_NONBLOCK,
        )
    };
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(0), "{out}");
    // A controlling terminal: tty_nr is not 0.
    assert!(
        out.contains("tty_nr=") && !out.contains("tty_nr=0 "),
        "{out:?}"
    );
    assert!(
        !out.contains("pid=1\r"),
        "exec is not the container's PID 1: {out:?}"
    );
}

#[test]
fn a_container_is_never_started_twice() {
    let c = TestContainer::new(&["sleep", "1000"]);
    c.start_ok();
    let again = c.start();
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already has a monitor"), "{stderr}");
    state::signal_container(&c.state_dir(), libc::SIGKILL).unwrap();
    c.wait_exit(Duration::from_secs(10));
    while state::monitor_pid(&c.state_dir()).is_some() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let after_exit = c.start();
    assert_eq!(after_exit.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&after_exit.stderr);
    assert!(stderr.contains("already started once"), "{stderr}");
    // Still the first run's record.
    assert_eq!(c.wait_exit(Duration::from_secs(1)).exit_code, 137);
}

#[test]
fn an_unwritable_log_does_not_lose_the_exit() {
    let mut c = TestContainer::new(&["sh", "-c", "echo lost; exit 4"]);
    c.spec.log.path = c.dir.path().join("no-such-dir/0.log");
    c.start_ok();
    assert_eq!(c.wait_exit(Duration::from_secs(10)).exit_code, 4);
    let monitor_log = fs::read_to_string(c.state_dir().join("monitor.log")).unwrap();
    assert!(monitor_log.contains("no-such-dir"), "{monitor_log}");
}

#[test]
fn exec_joins_a_user_namespace_container() {
    let mut c = TestContainer::new(&["sleep", "1000"]);
    c.spec.namespaces.user = Some(skiff_container::spec::IdMapping {
        host_id: 100_000,
        size: 65_536,
    });
    c.start_ok();
    let (code, out, err) = exec(
        &c,
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; cat /etc/skiff-marker; touch /new && ls -n /new",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        &words[..5],
        ["0", "100000", "65536", "0", "only-in-the-layer"],
        "{out}"
    );
    // Owned by the container's root; the write went through the idmapped
    // upper directory.
    assert_eq!(words[7], "0", "{out}");
    assert!(c.spec.rootfs.upper_dir.join("new").exists());
}
