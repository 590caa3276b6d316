//! `vigil demo`: a demo web shop, bundled probes, rules and a console notifier in one
//! process, telling the story healthy → fault → pending → firing → healed → resolved.

use std::process::ExitCode;

/// Arguments of `vigil demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run the story once with compressed timings, then exit (0 when the alert fired and
    /// resolved).
    #[arg(long)]
    pub once: bool,
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> ExitCode {
    let _ = args.once;
    eprintln!("error: `vigil demo` is not implemented yet");
    ExitCode::from(2)
}
