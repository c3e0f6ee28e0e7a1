//! The one error type of the container's init: a message that names what
//! failed, written as one line to the error pipe.

use std::fmt;

/// An errno value from a failed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name (`EPERM`), or `errno N` for rare values.
    pub fn name(self) -> String {
        let name = match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::ESRCH => "ESRCH",
            libc::EINTR => "EINTR",
            libc::EIO => "EIO",
            libc::E2BIG => "E2BIG",
            libc::ENOEXEC => "ENOEXEC",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::EXDEV => "EXDEV",
            libc::ENODEV => "ENODEV",
            libc::ENOTDIR => "ENOTDIR",
            libc::EISDIR => "EISDIR",
            libc::EINVAL => "EINVAL",
            libc::EMFILE => "EMFILE",
            libc::ENOSPC => "ENOSPC",
            libc::EROFS => "EROFS",
            libc::ENAMETOOLONG => "ENAMETOOLONG",
            libc::ENOSYS => "ENOSYS",
            libc::ELOOP => "ELOOP",
            libc::ENOTSUP => "EOPNOTSUPP",
            libc::ETXTBSY => "ETXTBSY",
            _ => return format!("errno {}", self.0),
        };
        name.to_string()
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)"; the name already identifies it.
        let text = text.split(" (os error").next().unwrap_or(&text);
        write!(f, "{} ({})", self.name(), text)
    }
}

/// Why the container (or an exec'd process) could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// A system call failed: `mounting /proc: EPERM (Operation not permitted)`.
    #[error("{context}: {errno}")]
    Sys { context: String, errno: Errno },
    /// The spec asks for something that cannot be done as written.
    #[error("{0}")]
    Invalid(String),
}

impl InitError {
    pub fn sys(context: impl Into<String>, errno: Errno) -> InitError {
        InitError::Sys {
            context: context.into(),
            errno,
        }
    }

    pub fn invalid(message: impl Into<String>) -> InitError {
        InitError::Invalid(message.into())
    }

    /// The errno, when a system call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            InitError::Sys { errno, .. } => Some(*errno),
            InitError::Invalid(_) => None,
        }
    }
}

/// Attach a context to a failed system call.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T> Context<T> for Result<T, Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|errno| InitError::sys(what(), errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_errors_name_the_step_and_the_errno() {
        let err = InitError::sys("mounting /proc", Errno(libc::EPERM));
        assert_eq!(
            err.to_string(),
            "mounting /proc: EPERM (Operation not permitted)"
        );
        assert_eq!(Errno(4095).name(), "errno 4095");
    }
}
