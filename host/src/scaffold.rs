//! `vigil new probe`: scaffold a ready-to-build probe folder in Rust, JavaScript, Python or C.

use std::process::ExitCode;

/// `vigil new ...`
#[derive(Debug, clap::Subcommand)]
pub enum NewCommand {
    /// Scaffold a probe folder (source, build file, README) that builds and runs as is.
    Probe(NewProbeArgs),
}

/// Arguments of `vigil new probe`.
#[derive(Debug, clap::Args)]
pub struct NewProbeArgs {
    /// The probe's name (also the folder created).
    pub name: String,
    /// Language: rust, js, python or c.
    #[arg(long, default_value = "rust")]
    pub lang: String,
}

/// Run `vigil new ...`.
pub fn run(cmd: NewCommand) -> ExitCode {
    match cmd {
        NewCommand::Probe(args) => {
            eprintln!(
                "error: `vigil new probe {} --lang {}` is not implemented yet",
                args.name, args.lang
            );
            ExitCode::from(2)
        }
    }
}
