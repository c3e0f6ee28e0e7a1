use super::*;

fn dead_identity() -> ProcessIdentity {
    // A child that has been reaped: its pid names nothing (or someone else).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let identity = ProcessIdentity::of(child.id() as i32).unwrap();
    child.wait().unwrap();
    identity
}

fn me() -> ProcessIdentity {
    ProcessIdentity::of(std::process::id() as i32).unwrap()
}

#[test]
fn fresh_directory_is_created_and_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_status(dir.path()).unwrap(), Status::Created);
    let err = read_status(&dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn live_container_is_running_with_its_start_time() {
    let dir = tempfile::tempdir().unwrap();
    let started = Utc::now();
    record_identity(dir.path(), MONITOR_PID_FILE, me()).unwrap();
    record_identity(dir.path(), CONTAINER_PID_FILE, me()).unwrap();
    record_started(dir.path(), started).unwrap();
    assert_eq!(
        read_status(dir.path()).unwrap(),
        Status::Running {
            pid: std::process::id() as i32,
            started_at: started
        }
    );
    assert_eq!(container_pid(dir.path()), Some(std::process::id() as i32));
    assert_eq!(monitor_pid(dir.path()), Some(std::process::id() as i32));
}

#[test]
fn exit_record_wins_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let record = ExitRecord {
        exit_code: 3,
        signal: None,
        oom_killed: false,
        started_at: Some(Utc::now()),
        finished_at: Utc::now(),
    };
    record_identity(dir.path(), CONTAINER_PID_FILE, dead_identity()).unwrap();
    record_exit(dir.path(), &record).unwrap();
    assert_eq!(read_status(dir.path()).unwrap(), Status::Exited(record));
}

#[test]
fn start_error_is_failed() {
    let dir = tempfile::tempdir().unwrap();
    record_error(dir.path(), "exec: no such file: /bin/nope").unwrap();
    assert_eq!(
        read_status(dir.path()).unwrap(),
        Status::Failed {
            message: "exec: no such file: /bin/nope".into()
        }
    );
}

#[test]
fn dead_monitor_without_record_is_a_lost_exit_saved_once() {
    let dir = tempfile::tempdir().unwrap();
    let started = Utc::now();
    record_identity(dir.path(), MONITOR_PID_FILE, dead_identity()).unwrap();
    record_identity(dir.path(), CONTAINER_PID_FILE, dead_identity()).unwrap();
    record_started(dir.path(), started).unwrap();
    let Status::Exited(first) = read_status(dir.path()).unwrap() else {
        panic!("expected Exited");
    };
    assert_eq!(first.exit_code, 137);
    assert_eq!(first.signal, Some(9));
    assert_eq!(first.started_at, Some(started));
    assert!(dir.path().join(EXIT_FILE).exists());
    assert_eq!(read_status(dir.path()).unwrap(), Status::Exited(first));
    assert_eq!(container_pid(dir.path()), None);
}

#[test]
fn dead_monitor_before_start_is_failed() {
    let dir = tempfile::tempdir().unwrap();
    record_identity(dir.path(), MONITOR_PID_FILE, dead_identity()).unwrap();
    let Status::Failed { message } = read_status(dir.path()).unwrap() else {
        panic!("expected Failed");
    };
    assert!(message.contains("monitor exited"), "{message}");
}

#[test]
fn signalling_a_dead_container_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let err = signal_container(dir.path(), 0).unwrap_err();
    assert!(err.to_string().contains("no container process"), "{err}");
    record_identity(dir.path(), CONTAINER_PID_FILE, dead_identity()).unwrap();
    assert!(signal_container(dir.path(), 0).is_err());
}

#[test]
fn signalling_a_live_process_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let identity = ProcessIdentity::of(child.id() as i32).unwrap();
    record_identity(dir.path(), CONTAINER_PID_FILE, identity).unwrap();
    signal_container(dir.path(), libc::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}
