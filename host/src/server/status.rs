//! The status page at `/`: probes, last runs, history charts, alerts and SLO budgets,
//! server-rendered HTML with its assets served by vigil itself.

use crate::daemon::Daemon;
use axum::Router;
use std::sync::Arc;

/// Routes of the status page (merged into the server's router).
pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
}
