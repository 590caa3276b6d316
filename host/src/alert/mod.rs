//! Alert delivery: what each notifier must be told after a rule evaluation ([`plan`]),
//! the payloads ([`payload`]), a durable SQLite outbox with retries ([`outbox`],
//! [`sender`]), persisted alert state and the alert history.

pub mod notice;
pub mod plan;
