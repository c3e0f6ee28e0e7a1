//! skiff's RuntimeDefault seccomp filter: a deny list compiled by hand into
//! classic BPF (no system library needed).
//!
//! - Syscalls that manage the kernel, mounts, namespaces, keys, BPF, perf,
//!   modules and the clock return `EPERM`.
//! - `clone` with any namespace flag returns `EPERM`; `clone3` (whose flags
//!   live in memory a filter cannot read) returns `ENOSYS`, so libc falls
//!   back to `clone`.
//! - Another architecture's syscall table (i386 or x32 on x86_64) gets
//!   `ENOSYS`/`EPERM`, so numbers cannot be smuggled past the list.
//! - Everything else, including `socket(AF_NETLINK)`, is allowed; raw
//!   sockets are stopped by dropping CAP_NET_RAW.

use std::ffi::c_long;

use super::error::{Errno, InitError};
use crate::spec::SeccompMode;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// x32 syscalls arrive with this bit set under the x86_64 audit arch.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Not in libc yet (Linux 6.15); the number is the same on every arch.
const SYS_OPEN_TREE_ATTR: c_long = 467;

/// The clone flags that create namespaces.
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// Denied with `EPERM`.
fn denied_syscalls() -> Vec<c_long> {
    let mut list = vec![
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        SYS_OPEN_TREE_ATTR,
        libc::SYS_mount_setattr,
        libc::SYS_lookup_dcookie,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_nfsservctl,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    #[cfg(target_arch = "x86_64")]
    list.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_ustat,
        libc::SYS_sysfs,
        libc::SYS__sysctl,
    ]);
    list
}

/// A compiled classic-BPF seccomp program.
#[derive(Debug, Clone)]
pub struct SeccompProgram {
    filter: Vec<libc::sock_filter>,
}

impl SeccompProgram {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.filter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filter.is_empty()
    }

    /// Install the filter on the calling thread (needs `no_new_privs` or
    /// CAP_SYS_ADMIN).
    pub fn install(&self) -> Result<(), InitError> {
        let prog = libc::sock_fprog {
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at our filter for the duration of the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let errno = Errno::last();
            let hint = if errno.0 == libc::EACCES {
                " (needs no_new_privileges or CAP_SYS_ADMIN)"
            } else {
                ""
            };
            return Err(InitError::sys(
                format!("installing the seccomp filter{hint}"),
                errno,
            ));
        }
        Ok(())
    }
}

/// The filter for `mode`, compiled once; `None` for `Unconfined`.
pub fn seccomp_filter(mode: SeccompMode) -> Result<Option<SeccompProgram>, InitError> {
    match mode {
        SeccompMode::Unconfined => Ok(None),
        SeccompMode::RuntimeDefault => Ok(Some(runtime_default())),
    }
}

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
#[cfg(target_arch = "x86_64")]
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
#[cfg(target_endian = "little")]
const OFFSET_ARG0_LOW: u32 = 16;
#[cfg(target_endian = "big")]
const OFFSET_ARG0_LOW: u32 = 20;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// Where a conditional jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

/// A tiny assembler: jumps name labels, resolved to relative offsets.
#[derive(Default)]
struct Assembler {
    code: Vec<(u16, To, To, u32)>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }

    fn load(&mut self, offset: u32) {
        self.code.push((LD_W_ABS, To::Next, To::Next, offset));
    }

    fn jump(&mut self, op: u16, k: u32, then: To, otherwise: To) {
        self.code.push((op, then, otherwise, k));
    }

    fn ret(&mut self, value: u32) {
        self.code.push((RET_K, To::Next, To::Next, value));
    }

    fn finish(self) -> Vec<libc::sock_filter> {
        let labels = self.labels;
        let offset = |from: usize, to: To| -> u8 {
            match to {
                To::Next => 0,
                To::Label(l) => {
                    let target = labels[l].expect("label bound");
                    u8::try_from(target - from - 1).expect("jump fits in 8 bits")
                }
            }
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, &(code, jt, jf, k))| libc::sock_filter {
                code,
                jt: offset(i, jt),
                jf: offset(i, jf),
                k,
            })
            .collect()
    }
}

fn runtime_default() -> SeccompProgram {
    let mut asm = Assembler::default();
    let (eperm, enosys, clone_check) = (asm.label(), asm.label(), asm.label());

    asm.load(OFFSET_ARCH);
    asm.jump(JEQ_K, AUDIT_ARCH, To::Next, To::Label(enosys));
    asm.load(OFFSET_NR);
    #[cfg(target_arch = "x86_64")]
    asm.jump(JGE_K, X32_SYSCALL_BIT, To::Label(eperm), To::Next);
    asm.jump(JEQ_K, libc::SYS_clone3 as u32, To::Label(enosys), To::Next);
    asm.jump(
        JEQ_K,
        libc::SYS_clone as u32,
        To::Label(clone_check),
        To::Next,
    );
    for nr in denied_syscalls() {
        asm.jump(JEQ_K, nr as u32, To::Label(eperm), To::Next);
    }
    asm.ret(RET_ALLOW);

    asm.bind(clone_check);
    asm.load(OFFSET_ARG0_LOW);
    asm.jump(JSET_K, NAMESPACE_FLAGS, To::Label(eperm), To::Next);
    asm.ret(RET_ALLOW);

    asm.bind(eperm);
    asm.ret(RET_EPERM);
    asm.bind(enosys);
    asm.ret(RET_ENOSYS);

    SeccompProgram {
        filter: asm.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the filter the way the kernel does, for the instructions we emit.
    fn run(prog: &SeccompProgram, arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        data[16..24].copy_from_slice(&arg0.to_ne_bytes());
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let ins = prog.filter[pc];
            pc += 1;
            let jump = |taken: bool| if taken { ins.jt } else { ins.jf } as usize;
            match ins.code {
                LD_W_ABS => {
                    let at = ins.k as usize;
                    acc = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                }
                JEQ_K => pc += jump(acc == ins.k),
                0x35 => pc += jump(acc >= ins.k),
                JSET_K => pc += jump(acc & ins.k != 0),
                RET_K => return ins.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn filter() -> SeccompProgram {
        seccomp_filter(SeccompMode::RuntimeDefault)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn unconfined_has_no_filter() {
        assert!(seccomp_filter(SeccompMode::Unconfined).unwrap().is_none());
    }

    #[test]
    fn the_required_syscalls_get_eperm() {
        let prog = filter();
        for nr in [
            libc::SYS_keyctl,
            libc::SYS_bpf,
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_pivot_root,
            libc::SYS_kexec_load,
            libc::SYS_userfaultfd,
            libc::SYS_open_by_handle_at,
            libc::SYS_perf_event_open,
            libc::SYS_fsopen,
        ] {
            assert_eq!(
                run(&prog, AUDIT_ARCH, nr as u32, 0),
                RET_EPERM,
                "syscall {nr}"
            );
        }
    }

    #[test]
    fn ordinary_syscalls_are_allowed() {
        let prog = filter();
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_execve,
            libc::SYS_socket,
            libc::SYS_openat,
            libc::SYS_ptrace,
        ] {
            assert_eq!(
                run(&prog, AUDIT_ARCH, nr as u32, 0),
                RET_ALLOW,
                "syscall {nr}"
            );
        }
    }

    #[test]
    fn clone_is_allowed_without_namespace_flags_only() {
        let prog = filter();
        let nr = libc::SYS_clone as u32;
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(run(&prog, AUDIT_ARCH, nr, libc::SIGCHLD as u64), RET_ALLOW);
        assert_eq!(run(&prog, AUDIT_ARCH, nr, thread), RET_ALLOW);
        for flag in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWPID,
        ] {
            let flags = libc::SIGCHLD as u64 | flag as u64;
            assert_eq!(
                run(&prog, AUDIT_ARCH, nr, flags),
                RET_EPERM,
                "flag {flag:#x}"
            );
        }
        assert_eq!(
            run(&prog, AUDIT_ARCH, libc::SYS_clone3 as u32, 0),
            RET_ENOSYS
        );
    }

    #[test]
    fn foreign_architectures_are_refused() {
        let prog = filter();
        let i386 = 0x4000_0003;
        assert_eq!(run(&prog, i386, 21, 0), RET_ENOSYS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                X32_SYSCALL_BIT | libc::SYS_mount as u32,
                0
            ),
            RET_EPERM
        );
    }
}
