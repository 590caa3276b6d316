//! Probes bundled in the `vigil` binary, addressable as `builtin:NAME`.
//!
//! They are ordinary components built from `probes/builtin/*` by `host/build.rs`, so they
//! run in the same sandbox as user probes and double as examples of the guest SDK.

/// A bundled probe.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Name after `builtin:`.
    pub name: &'static str,
    /// What it checks and its config keys, for `--help` and errors.
    pub summary: &'static str,
    /// The component.
    pub wasm: &'static [u8],
}

/// Two builtins are the same probe when they have the same name.
impl PartialEq for Builtin {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// Every bundled probe.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "http",
        summary: "HTTP check. Config: url (required), method, headers, body, expect_status \
                  (default 2xx), body_contains, max_latency",
        wasm: include_bytes!(concat!(env!("VIGIL_PROBES_DIR"), "/builtin-http.wasm")),
    },
    Builtin {
        name: "tcp",
        summary: "TCP connect check. Config: address (host:port, required), send, expect",
        wasm: include_bytes!(concat!(env!("VIGIL_PROBES_DIR"), "/builtin-tcp.wasm")),
    },
];

/// Look up `NAME` of `builtin:NAME`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The list of names, for error messages.
pub fn names() -> String {
    BUILTINS
        .iter()
        .map(|b| format!("builtin:{}", b.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_a_component() {
        for b in BUILTINS {
            // A component's preamble: magic, then version 0x0d and layer 1.
            assert_eq!(&b.wasm[..8], b"\0asm\x0d\0\x01\0", "builtin:{}", b.name);
        }
        assert!(find("http").is_some());
        assert!(find("nope").is_none());
    }
}
