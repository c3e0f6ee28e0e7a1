//! A private network namespace for tests that make bridges, routes, nft
//! tables or CNI networks: never the host's.

use std::fs;
use std::future::Future;
use std::os::unix::fs::MetadataExt;

use skiff_container::sandbox;

/// Runs `body` on a new thread inside a new network namespace (`lo` up), on
/// a tokio runtime whose threads and children inherit that namespace. The
/// namespace goes away with the thread. Refuses to go on if the thread is
/// somehow still in the process's or PID 1's namespace.
pub fn in_test_netns<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let outcome = std::thread::spawn(move || {
        // SAFETY: affects only this thread.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        let mine = fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        // The main thread's namespace: where this process was started.
        let started_in = fs::metadata("/proc/self/ns/net").unwrap().ino();
        assert_ne!(mine, started_in, "still in the process's own netns");
        // PID 1's, where it may be read (sandboxed CI can hide it).
        if let Ok(init) = fs::metadata("/proc/1/ns/net") {
            assert_ne!(mine, init.ino(), "still in the host's netns");
        }
        sandbox::set_loopback_up().unwrap();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
