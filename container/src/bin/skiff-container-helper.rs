//! The container crate's own entry for its tests: the same hidden
//! subcommands as `skiff container-monitor` / `skiff container-exec`.
//! Production uses the `skiff` binary.
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(code) = skiff_container::dispatch(&args) else {
        eprintln!("usage: skiff-container-helper container-monitor|container-exec ...");
        return std::process::ExitCode::from(2);
    };
    std::process::ExitCode::from(code as u8)
}
