//! `skiff`: a small Kubernetes in one binary. Server roles and the
//! kubectl-like client commands; see `cmd/` for one file per command.

mod age;
mod cmd;
mod context;
mod errors;
mod jsonfmt;
mod kinds;
mod manifest;
mod output;
mod printer;
mod tabwriter;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The container monitor and exec helper must start single-threaded:
    // before clap and before tokio.
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if let Some(code) = skiff_container::dispatch(&args) {
        return ExitCode::from(code as u8);
    }
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with status 0; usage errors exit 1 like kubectl.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(cmd::run(cli));
    // Do not wait for blocked readers (stdin) or lingering streams.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(text) = e.render() {
                output::eprint_line(&text);
            }
            ExitCode::from(1)
        }
    }
}
