//! The `vigil` binary: parses the command line, sets up logging and the async runtime.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = vigil::cli::Cli::parse();
    if !cli.is_long_running() {
        // One-shot commands end quietly when their reader goes away (`vigil probe run X |
        // head`), like other Unix tools. The daemon keeps Rust's default (SIGPIPE ignored)
        // so a client closing a connection is an error on that connection, not an exit.
        // SAFETY: called before any thread is started; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_filter()));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format() {
        vigil::cli::LogFormat::Json => logs.json().flatten_event(true).init(),
        vigil::cli::LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(vigil::cli::run(cli))
}
