//! The demo shop scenario: log in, add to cart, check out (placeholder until `vigil demo`).

use vigil_guest::Result;

fn run() -> Result<()> {
    Ok(())
}

vigil_guest::probe!(run);
