//! `skiff lab relay` (internal): forwards the host's loopback listener it
//! inherits as fd 3 to the server inside the lab. It runs in the lab's
//! netns, so it connects there, while the inherited socket stays in the
//! host's: sockets keep the namespace they were made in. The bytes pass
//! through untouched (TLS included).

use std::net::SocketAddr;
use std::os::fd::FromRawFd;

use clap::Args;
use tokio::net::{TcpListener, TcpStream};

use crate::errors::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct RelayArgs {
    /// Where connections go, from this process's netns.
    #[arg(long, value_name = "IP:PORT")]
    pub to: SocketAddr,
    /// The listening socket inherited from `lab up`.
    #[arg(long, default_value_t = 3, value_name = "FD")]
    pub listen_fd: i32,
}

pub async fn run(args: RelayArgs) -> CliResult {
    // SAFETY: `lab up` passes a listening TCP socket as this fd, owned by us alone.
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(args.listen_fd) };
    std_listener
        .set_nonblocking(true)
        .map_err(|e| CliError::msg(format!("fd {}: {e}", args.listen_fd)))?;
    let listener = TcpListener::from_std(std_listener)
        .map_err(|e| CliError::msg(format!("fd {} is not a listener: {e}", args.listen_fd)))?;
    let to = args.to;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut client, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("relay: accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                tokio::spawn(async move {
                    match TcpStream::connect(to).await {
                        Ok(mut server) => {
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                        Err(e) => eprintln!("relay: connecting to {to}: {e}"),
                    }
                });
            }
            r = super::super::server::wait_for_signal() => return r,
        }
    }
}
