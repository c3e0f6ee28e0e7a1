//! Copying what the agent writes into the `stdin` FIFO to the container's
//! stdin, without ever blocking the monitor's loop.

use std::os::fd::AsFd;

use super::stdio::{StdinRelay, reopen_fifo};
use super::sys;

pub struct StdinState {
    pub relay: StdinRelay,
    /// Read from the FIFO, not yet taken by the container.
    pub pending: Vec<u8>,
}

impl Drop for StdinState {
    /// Once the container's stdin is closed nobody may attach: an agent
    /// opening the FIFO would otherwise wait for a reader forever.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.relay.fifo_path);
    }
}

impl StdinState {
    pub fn new(relay: StdinRelay) -> StdinState {
        StdinState {
            relay,
            pending: Vec::new(),
        }
    }

    /// One step of the relay; false once the container's stdin is closed.
    pub fn step(
        &mut self,
        revents: libc::c_short,
        buf: &mut [u8],
        log_error: &dyn Fn(&str),
    ) -> bool {
        if !self.pending.is_empty() {
            return match sys::write_some(self.relay.target.as_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                    true
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
                // The container closed its stdin.
                Err(_) => false,
            };
        }
        match sys::read_some(self.relay.fifo.as_fd(), buf) {
            Ok(0) if revents & libc::POLLHUP != 0 => {
                // The writer went away.
                if self.relay.once {
                    return false;
                }
                match reopen_fifo(&self.relay.fifo_path) {
                    Ok(fd) => {
                        self.relay.fifo = fd;
                        true
                    }
                    Err(e) => {
                        log_error(&format!("stdin: {e}"));
                        false
                    }
                }
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(e) => {
                log_error(&format!("reading stdin: {e}"));
                false
            }
        }
    }
}
