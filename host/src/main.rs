//! The `vigil` binary: parses the command line, sets up logging and the async runtime.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = vigil::cli::Cli::parse();
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
