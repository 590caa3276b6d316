//! `cargo xtask`: repository chores, starting with building every example probe.

fn main() {
    eprintln!("usage: cargo xtask probes");
    std::process::exit(2);
}
