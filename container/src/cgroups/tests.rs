//! The public interface against fake cgroupfs trees: temp directories
//! holding the files the kernel would create. A plain directory cannot play
//! cgroupfs' part in `rmdir` (which drops the interface files), so removal
//! tests delete the fake's files first, as that rmdir would, and also check
//! that a tree still holding files is reported, not skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

const LEAF: &str = "skiff-test1/burstable/pod123/ctr1";
const LEVELS: [&str; 4] = [
    "skiff-test1",
    "skiff-test1/burstable",
    "skiff-test1/burstable/pod123",
    "skiff-test1/burstable/pod123/ctr1",
];
const UNLIMITED_PAGES: &str = "9223372036854771712";

fn put(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// Deletes every regular file under `dir`, as cgroupfs does on rmdir.
fn drop_interface_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            drop_interface_files(&path);
        } else {
            fs::remove_file(path).unwrap();
        }
    }
}

fn limits() -> CgroupResources {
    CgroupResources {
        cpu_limit_milli: Some(200),
        cpu_request_milli: Some(250),
        memory_limit_bytes: Some(32 << 20),
        pids_limit: Some(10),
    }
}

#[test]
fn the_handle_is_cheap_to_share_between_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Cgroups>();
}

// ---------------------------------------------------------------- v2 fakes

/// A v2 root offering `root_controllers`, with LEAF's levels pre-made the
/// way the kernel shows them once the controllers are delegated.
fn fake_v2(root_controllers: &str) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    put(
        root,
        &[
            ("cgroup.controllers", root_controllers),
            ("cgroup.subtree_control", ""),
            ("cgroup.procs", ""),
        ],
    );
    let delegated: Vec<&str> = root_controllers
        .split_whitespace()
        .filter(|c| ["cpu", "memory", "pids"].contains(c))
        .collect();
    let delegated = delegated.join(" ");
    for level in LEVELS {
        put(
            &root.join(level),
            &[
                ("cgroup.controllers", delegated.as_str()),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
                ("cgroup.kill", ""),
                ("cpu.max", "max 100000\n"),
                ("cpu.weight", "100\n"),
                ("memory.max", "max\n"),
                ("memory.swap.max", "max\n"),
                ("pids.max", "max\n"),
            ],
        );
    }
    tmp
}

#[test]
fn v2_create_writes_the_converted_limits() {
    let fake = fake_v2("cpuset cpu io memory hugetlb pids");
    let cg = Cgroups::v2_at(fake.path());
    assert_eq!(cg.version(), CgroupVersion::V2);
    cg.create(LEAF, &limits()).unwrap();
    let leaf = fake.path().join(LEAF);
    assert_eq!(read(leaf.join("cpu.max")), "20000 100000");
    // 250m -> 256 shares -> weight 35 (see convert::cpu_weight).
    assert_eq!(read(leaf.join("cpu.weight")), "35");
    assert_eq!(read(leaf.join("memory.max")), "33554432");
    assert_eq!(read(leaf.join("memory.swap.max")), "0");
    assert_eq!(read(leaf.join("pids.max")), "10");
}

#[test]
fn v2_create_delegates_controllers_on_every_ancestor_but_not_the_leaf() {
    let fake = fake_v2("cpuset cpu io memory hugetlb pids");
    Cgroups::v2_at(fake.path()).create(LEAF, &limits()).unwrap();
    let root = fake.path();
    assert_eq!(
        read(root.join("cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    for level in &LEVELS[..3] {
        assert_eq!(
            read(root.join(level).join("cgroup.subtree_control")),
            "+cpu +memory +pids",
            "{level}"
        );
    }
    assert_eq!(read(root.join(LEAF).join("cgroup.subtree_control")), "");
}

#[test]
fn v2_create_leaves_already_enabled_controllers_alone() {
    let fake = fake_v2("cpu memory pids");
    // As on a systemd host, the root already delegates everything.
    fs::write(
        fake.path().join("cgroup.subtree_control"),
        "cpu memory pids\n",
    )
    .unwrap();
    // A level that delegates only memory gets the other two added.
    let pod = fake.path().join(LEVELS[2]);
    fs::write(pod.join("cgroup.subtree_control"), "memory\n").unwrap();
    Cgroups::v2_at(fake.path()).create(LEAF, &limits()).unwrap();
    assert_eq!(
        read(fake.path().join("cgroup.subtree_control")),
        "cpu memory pids\n"
    );
    assert_eq!(read(pod.join("cgroup.subtree_control")), "+cpu +pids");
}

#[test]
fn v2_missing_controller_is_an_error_only_when_a_limit_needs_it() {
    let fake = fake_v2("cpu memory");
    let cg = Cgroups::v2_at(fake.path());
    let err = cg.create(LEAF, &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::MissingController {
                controller: "pids",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(LEAF), "{err}");
    assert_eq!(
        read(fake.path().join("cgroup.subtree_control")),
        "+cpu +memory"
    );
    let no_pids_limit = CgroupResources {
        pids_limit: None,
        ..limits()
    };
    cg.create(LEAF, &no_pids_limit).unwrap();
}

#[test]
fn v2_update_resets_unset_limits_to_kernel_defaults() {
    let fake = fake_v2("cpu memory pids");
    let cg = Cgroups::v2_at(fake.path());
    cg.create(LEAF, &limits()).unwrap();
    cg.update(LEAF, &CgroupResources::default()).unwrap();
    let leaf = fake.path().join(LEAF);
    assert_eq!(read(leaf.join("cpu.max")), "max 100000");
    assert_eq!(read(leaf.join("cpu.weight")), "100");
    assert_eq!(read(leaf.join("memory.max")), "max");
    assert_eq!(read(leaf.join("pids.max")), "max");
}

#[test]
fn v2_add_process_and_pids_use_cgroup_procs() {
    let fake = fake_v2("cpu memory pids");
    let cg = Cgroups::v2_at(fake.path());
    cg.add_process(LEAF, 4242).unwrap();
    assert_eq!(read(fake.path().join(LEAF).join("cgroup.procs")), "4242");
    fs::write(fake.path().join(LEAF).join("cgroup.procs"), "31\n7\n").unwrap();
    assert_eq!(cg.pids(LEAF).unwrap(), [7, 31]);
    let err = cg
        .add_process("skiff-test1/nope", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("skiff-test1/nope/cgroup.procs"), "{err}");
}

#[test]
fn v2_stats_parse_the_kernel_files() {
    let fake = fake_v2("cpu memory pids");
    put(
        &fake.path().join(LEAF),
        &[
            (
                "cpu.stat",
                "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
            ),
            ("memory.current", "104857600\n"),
            (
                "memory.stat",
                "anon 73400320\nfile 31457280\nactive_file 10485760\ninactive_file 20971520\n",
            ),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
            ),
            ("pids.current", "4\n"),
        ],
    );
    let cg = Cgroups::v2_at(fake.path());
    let stats = cg.stats(LEAF).unwrap();
    assert_eq!(
        stats,
        CgroupStats {
            cpu_usage_nanos: 1_500_000_000,
            memory_usage_bytes: 104_857_600,
            memory_working_set_bytes: 104_857_600 - 20_971_520,
            oom_kills: 2,
            pids_current: 4,
        }
    );
    assert_eq!(cg.oom_kills(LEAF).unwrap(), 2);
    fs::write(fake.path().join(LEAF).join("memory.events"), "oom 1\n").unwrap();
    let err = cg.stats(LEAF).unwrap_err().to_string();
    assert!(
        err.contains("memory.events") && err.contains("oom_kill"),
        "{err}"
    );
}

#[test]
fn v2_kill_all_uses_cgroup_kill() {
    let fake = fake_v2("cpu memory pids");
    Cgroups::v2_at(fake.path()).kill_all(LEAF).unwrap();
    assert_eq!(read(fake.path().join(LEAF).join("cgroup.kill")), "1");
}

#[test]
fn v2_remove_goes_leaf_first_keeps_parents_and_reports_what_stays() {
    let fake = fake_v2("cpu memory pids");
    let cg = Cgroups::v2_at(fake.path());
    let pod = LEVELS[2];
    put(&fake.path().join(pod).join("sidecar"), &[]);
    // Files a plain directory keeps make rmdir fail: reported, naming the dir.
    let err = cg.remove(pod).unwrap_err().to_string();
    assert!(
        err.contains("cannot remove") && err.contains("pod123"),
        "{err}"
    );
    drop_interface_files(&fake.path().join(pod));
    cg.remove(pod).unwrap();
    assert!(!cg.exists(pod));
    assert!(!fake.path().join(LEAF).exists());
    assert!(cg.exists(LEVELS[1]), "the parent stays");
    cg.remove(pod).unwrap();
}

#[test]
fn v2_dir_fd_opens_the_directory_and_v1_has_none() {
    let fake = fake_v2("cpu memory pids");
    let fd = Cgroups::v2_at(fake.path()).dir_fd(LEAF).unwrap().unwrap();
    let link = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    assert_eq!(link.unwrap(), fake.path().join(LEAF));
    assert!(
        Cgroups::v1_at(BTreeMap::new())
            .dir_fd(LEAF)
            .unwrap()
            .is_none()
    );
    assert!(
        Cgroups::v2_at(fake.path())
            .dir_fd("skiff-test1/nope")
            .is_err()
    );
}

#[test]
fn bad_paths_are_refused_before_touching_anything() {
    let fake = fake_v2("cpu memory pids");
    let cg = Cgroups::v2_at(fake.path());
    for bad in ["", "/skiff", "a/../../etc"] {
        let err = cg.create(bad, &limits()).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidPath { .. }),
            "{bad:?}: {err}"
        );
        assert!(cg.remove(bad).is_err());
        assert!(!cg.exists(bad));
    }
    assert_eq!(read(fake.path().join("cgroup.subtree_control")), "");
}

// ---------------------------------------------------------------- v1 fakes

const V1_CONTROLLERS: [&str; 7] = [
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];

/// One directory per controller under a temp dir, LEAF's levels pre-made
/// with each controller's files.
fn fake_v1(controllers: &[&str]) -> (TempDir, BTreeMap<String, PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut mounts = BTreeMap::new();
    for &controller in controllers {
        let root = tmp.path().join(controller);
        put(&root, &[("cgroup.procs", "")]);
        if controller == "cpuset" {
            put(&root, &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")]);
        }
        for level in LEVELS {
            let files: &[(&str, &str)] = match controller {
                "cpu" => &[
                    ("cpu.cfs_period_us", "100000\n"),
                    ("cpu.cfs_quota_us", "-1\n"),
                    ("cpu.shares", "1024\n"),
                ],
                "cpuset" => &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
                "memory" => &[
                    ("memory.limit_in_bytes", "9223372036854771712\n"),
                    ("memory.memsw.limit_in_bytes", UNLIMITED_PAGES),
                ],
                "pids" => &[("pids.max", "max\n")],
                "devices" => &[
                    ("devices.allow", ""),
                    ("devices.deny", ""),
                    ("devices.list", "a *:* rwm\n"),
                ],
                "freezer" => &[("freezer.state", "THAWED\n")],
                _ => &[],
            };
            let dir = root.join(level);
            put(&dir, &[("cgroup.procs", "")]);
            put(&dir, files);
        }
        mounts.insert(controller.to_string(), root);
    }
    (tmp, mounts)
}

#[test]
fn v1_create_writes_each_controller_in_its_hierarchy() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    let cg = Cgroups::v1_at(mounts);
    assert_eq!(cg.version(), CgroupVersion::V1);
    cg.create(LEAF, &limits()).unwrap();
    let leaf = |controller: &str| tmp.path().join(controller).join(LEAF);
    assert_eq!(read(leaf("cpu").join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(leaf("cpu").join("cpu.cfs_quota_us")), "20000");
    assert_eq!(read(leaf("cpu").join("cpu.shares")), "256");
    assert_eq!(
        read(leaf("memory").join("memory.limit_in_bytes")),
        "33554432"
    );
    assert_eq!(
        read(leaf("memory").join("memory.memsw.limit_in_bytes")),
        "33554432"
    );
    assert_eq!(read(leaf("pids").join("pids.max")), "10");
    assert_eq!(read(leaf("devices").join("devices.deny")), "a\n");
    let allowed: Vec<String> = read(leaf("devices").join("devices.allow"))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(allowed, V1_DEVICES_ALLOWED);
    // Only the leaf is restricted; its parents keep the host's rules.
    let pod = tmp.path().join("devices").join(LEVELS[2]);
    assert_eq!(read(pod.join("devices.deny")), "");
}

#[test]
fn v1_cpuset_levels_inherit_cpus_and_mems_from_their_parent() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    // An admin-set level keeps its value, and passes it down.
    let burstable = tmp.path().join("cpuset").join(LEVELS[1]);
    fs::write(burstable.join("cpuset.cpus"), "1\n").unwrap();
    Cgroups::v1_at(mounts).create(LEAF, &limits()).unwrap();
    let cpuset = |level: &str, file: &str| read(tmp.path().join("cpuset").join(level).join(file));
    assert_eq!(cpuset(LEVELS[0], "cpuset.cpus"), "0-1");
    assert_eq!(cpuset(LEVELS[1], "cpuset.cpus"), "1\n");
    assert_eq!(cpuset(LEVELS[2], "cpuset.cpus"), "1");
    assert_eq!(cpuset(LEAF, "cpuset.cpus"), "1");
    for level in LEVELS {
        assert_eq!(cpuset(level, "cpuset.mems"), "0", "{level}");
    }
}

#[test]
fn v1_devices_are_not_restricted_again_nor_above_children() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    let cg = Cgroups::v1_at(mounts);
    let leaf = tmp.path().join("devices").join(LEAF);
    let mut listed = V1_DEVICES_ALLOWED.join("\n");
    listed.push('\n');
    fs::write(leaf.join("devices.list"), listed).unwrap();
    cg.create(LEAF, &limits()).unwrap();
    assert_eq!(read(leaf.join("devices.deny")), "", "already restricted");
    // The pod level has a child: "deny all" would fail there.
    cg.create(LEVELS[2], &limits()).unwrap();
    assert_eq!(
        read(
            tmp.path()
                .join("devices")
                .join(LEVELS[2])
                .join("devices.deny")
        ),
        ""
    );
}

#[test]
fn v1_update_orders_memsw_and_resets_unset_limits() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    let cg = Cgroups::v1_at(mounts);
    cg.create(LEAF, &limits()).unwrap();
    cg.update(LEAF, &CgroupResources::default()).unwrap();
    let leaf = |controller: &str| tmp.path().join(controller).join(LEAF);
    assert_eq!(read(leaf("cpu").join("cpu.cfs_quota_us")), "-1");
    assert_eq!(read(leaf("cpu").join("cpu.shares")), "1024");
    assert_eq!(read(leaf("memory").join("memory.limit_in_bytes")), "-1");
    assert_eq!(
        read(leaf("memory").join("memory.memsw.limit_in_bytes")),
        "-1"
    );
    assert_eq!(read(leaf("pids").join("pids.max")), "max");
    // Without swap accounting only the limit is written.
    fs::remove_file(leaf("memory").join("memory.memsw.limit_in_bytes")).unwrap();
    cg.update(LEAF, &limits()).unwrap();
    assert_eq!(
        read(leaf("memory").join("memory.limit_in_bytes")),
        "33554432"
    );
    assert!(!leaf("memory").join("memory.memsw.limit_in_bytes").exists());
}

#[test]
fn v1_missing_hierarchy_is_an_error_only_when_a_limit_needs_it() {
    let (_tmp, mounts) = fake_v1(&["cpu", "cpuacct", "memory"]);
    let cg = Cgroups::v1_at(mounts);
    let err = cg.create(LEAF, &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::MissingController {
                controller: "pids",
                ..
            }
        ),
        "{err}"
    );
    let no_pids_limit = CgroupResources {
        pids_limit: None,
        ..limits()
    };
    cg.create(LEAF, &no_pids_limit).unwrap();
    let err = cg.stats(LEAF).unwrap_err().to_string();
    assert!(err.contains("pids controller is not available"), "{err}");
}

#[test]
fn v1_add_process_joins_every_hierarchy_once() {
    let (tmp, mut mounts) = fake_v1(&V1_CONTROLLERS);
    // cpu and cpuacct co-mounted: one hierarchy, one write.
    mounts.insert("cpuacct".into(), tmp.path().join("cpu"));
    let cg = Cgroups::v1_at(mounts);
    cg.add_process(LEAF, 4242).unwrap();
    for controller in ["cpu", "cpuset", "devices", "freezer", "memory", "pids"] {
        let procs = tmp.path().join(controller).join(LEAF).join("cgroup.procs");
        assert_eq!(read(procs), "4242", "{controller}");
    }
    assert_eq!(
        read(tmp.path().join("cpuacct").join(LEAF).join("cgroup.procs")),
        ""
    );
    assert_eq!(cg.dirs(LEAF).unwrap().len(), 6);
}

#[test]
fn v1_pids_merge_hierarchies() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    fs::write(
        tmp.path().join("cpu").join(LEAF).join("cgroup.procs"),
        "5\n3\n",
    )
    .unwrap();
    fs::write(
        tmp.path().join("memory").join(LEAF).join("cgroup.procs"),
        "3\n7\n",
    )
    .unwrap();
    assert_eq!(Cgroups::v1_at(mounts).pids(LEAF).unwrap(), [3, 5, 7]);
}

#[test]
fn v1_stats_parse_the_kernel_files() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    let leaf = |controller: &str| tmp.path().join(controller).join(LEAF);
    put(&leaf("cpuacct"), &[("cpuacct.usage", "2500000000\n")]);
    put(
        &leaf("memory"),
        &[
            ("memory.usage_in_bytes", "52428800\n"),
            (
                "memory.stat",
                "cache 8388608\ninactive_file 1\ntotal_cache 8388608\ntotal_inactive_file 4194304\n",
            ),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
        ],
    );
    put(&leaf("pids"), &[("pids.current", "7\n")]);
    let cg = Cgroups::v1_at(mounts);
    assert_eq!(
        cg.stats(LEAF).unwrap(),
        CgroupStats {
            cpu_usage_nanos: 2_500_000_000,
            memory_usage_bytes: 52_428_800,
            memory_working_set_bytes: 52_428_800 - 4_194_304,
            oom_kills: 3,
            pids_current: 7,
        }
    );
    assert_eq!(cg.oom_kills(LEAF).unwrap(), 3);
    fs::write(leaf("cpuacct").join("cpuacct.usage"), "lots\n").unwrap();
    let err = cg.stats(LEAF).unwrap_err().to_string();
    assert!(
        err.contains("cpuacct.usage") && err.contains("\"lots\""),
        "{err}"
    );
}

#[test]
fn v1_kill_all_freezes_and_thaws() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    // No pids in the fake: nothing real is signalled.
    Cgroups::v1_at(mounts).kill_all(LEVELS[2]).unwrap();
    let state = tmp
        .path()
        .join("freezer")
        .join(LEVELS[2])
        .join("freezer.state");
    assert_eq!(read(state), "THAWED");
}

#[test]
fn v1_remove_clears_every_hierarchy_and_keeps_parents() {
    let (tmp, mounts) = fake_v1(&V1_CONTROLLERS);
    let cg = Cgroups::v1_at(mounts);
    let pod = LEVELS[2];
    let err = cg.remove(pod).unwrap_err().to_string();
    assert!(
        err.contains("cannot remove") && err.contains("pod123"),
        "{err}"
    );
    for controller in V1_CONTROLLERS {
        drop_interface_files(&tmp.path().join(controller).join(pod));
    }
    cg.remove(pod).unwrap();
    assert!(!cg.exists(pod));
    for controller in V1_CONTROLLERS {
        assert!(
            !tmp.path().join(controller).join(pod).exists(),
            "{controller}"
        );
        assert!(
            tmp.path().join(controller).join(LEVELS[1]).is_dir(),
            "{controller}"
        );
    }
    cg.remove(pod).unwrap();
}
