//! The rule engine: Prometheus rule files, alert state, templates.
//!
//! Pure: rule files are parsed and validated into [`file::GroupSpec`]s, alerting rules
//! advance their state machine from a query result and an evaluation time, templates
//! expand from plain values. The daemon drives evaluation on its own clock.

pub mod alerting;
pub mod file;
pub mod group;
pub mod slo;
pub mod template;
pub mod unittest;
