//! Turns a wasip1 core module (C, Zig, TinyGo, AssemblyScript) into a component of the
//! `vigil:probe/probe` world, the way `wasm-tools component new --adapt` does, at load time.
//!
//! The module's WIT types come from its own `component-type` custom section when it has
//! one (as `wit-bindgen c` emits); a bare module gets the probe world bundled in this
//! binary (`wit/`), so any module whose imports and exports follow the canonical ABI for
//! that world works. wasip1 imports are served by wasmtime's preview1 adapter: the command
//! adapter when the module exports `_start`, the reactor adapter otherwise (a module with
//! `_initialize` gets it called once per instance).
//!
//! Pure: bytes in, bytes out, no I/O.

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{ExternalKind, Parser, Payload};

/// The probe's entry point, as a core export.
const RUN: &str = "run";

/// The bundled WIT, dependencies first: `Resolve::push_source` needs every package a file
/// uses to be present already.
const WIT: &[(&str, &str)] = &[
    ("wit/deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "wit/deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
    (
        "wit/deps/cli.wit",
        include_str!("../../../wit/deps/cli.wit"),
    ),
    (
        "wit/deps/http.wit",
        include_str!("../../../wit/deps/http.wit"),
    ),
    ("wit/probe.wit", include_str!("../../../wit/probe.wit")),
];

/// Why a core module could not be made into a probe component.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// The bytes do not parse as a WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// The module lacks the `run` export every probe needs.
    #[error(
        "core module does not export `run`, the probe's entry point \
         (`run: func() -> result<_, string>` in wit/probe.wit; as a core function \
         `(func (result i32))` returning a pointer to the result); its exports are: {exports}"
    )]
    MissingRun {
        /// The module's exports, for the reader to compare.
        exports: String,
    },
    /// The module exports `run`, but not as a function.
    #[error("core module exports `run`, but as a {kind}, not a function")]
    RunNotAFunction {
        /// What `run` is instead.
        kind: &'static str,
    },
    /// wit-component rejected the module (an unknown import, a wrong signature, ...).
    #[error("cannot adapt the core module into a component: {0}")]
    Encode(String),
}

/// Which preview1 adapter a module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// The module is a command (`_start`): the command adapter.
    Command,
    /// The module is a reactor (`_initialize`, or no entry point at all): the reactor adapter.
    Reactor,
}

/// What the module says about itself, read without compiling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleShape {
    /// The adapter its execution model asks for.
    pub adapter: Adapter,
    /// Whether it carries WIT type info (`component-type*` custom sections).
    pub has_component_type: bool,
}

/// Read the module's exports and custom sections, and check it exports `run`.
pub fn inspect(module: &[u8]) -> Result<ModuleShape, AdaptError> {
    let mut exports: Vec<(String, ExternalKind)> = Vec::new();
    let mut has_component_type = false;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| AdaptError::Invalid(e.to_string()))?;
        match payload {
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export.map_err(|e| AdaptError::Invalid(e.to_string()))?;
                    exports.push((export.name.to_string(), export.kind));
                }
            }
            Payload::CustomSection(c) if c.name().starts_with("component-type") => {
                has_component_type = true;
            }
            _ => {}
        }
    }
    match exports.iter().find(|(name, _)| name == RUN) {
        None => {
            let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
            return Err(AdaptError::MissingRun {
                exports: if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                },
            });
        }
        Some((_, ExternalKind::Func | ExternalKind::FuncExact)) => {}
        Some((_, kind)) => {
            return Err(AdaptError::RunNotAFunction {
                kind: kind_name(*kind),
            });
        }
    }
    let adapter = if exports.iter().any(|(n, _)| n == "_start") {
        Adapter::Command
    } else {
        Adapter::Reactor
    };
    Ok(ModuleShape {
        adapter,
        has_component_type,
    })
}

/// Adapt a wasip1 core module into a `vigil:probe/probe` component.
pub fn adapt(module: &[u8]) -> Result<Vec<u8>, AdaptError> {
    let shape = inspect(module)?;
    let encode = |e: anyhow::Error| AdaptError::Encode(format!("{e:#}"));
    let module: std::borrow::Cow<'_, [u8]> = if shape.has_component_type {
        module.into()
    } else {
        let (resolve, world) = probe_world().map_err(encode)?;
        let mut bytes = module.to_vec();
        wit_component::embed_component_metadata(
            &mut bytes,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .map_err(encode)?;
        bytes.into()
    };
    let adapter = match shape.adapter {
        Adapter::Command => WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        Adapter::Reactor => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .map_err(encode)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
        .map_err(encode)?
        .encode()
        .map_err(encode)
}

/// Feed everything besides the module that decides what [`adapt`] produces (the bundled
/// WIT and both adapters) into `h`, so cache keys change when any of it does.
pub fn hash_inputs(h: &mut impl std::hash::Hasher) {
    for (path, text) in WIT {
        h.write(path.as_bytes());
        h.write(text.as_bytes());
    }
    h.write(WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER);
    h.write(WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER);
}

/// The `vigil:probe/probe` world from the WIT bundled in this binary.
fn probe_world() -> anyhow::Result<(wit_parser::Resolve, wit_parser::WorldId)> {
    let mut resolve = wit_parser::Resolve::default();
    let mut probe = None;
    for (path, text) in WIT {
        probe = Some(resolve.push_source(path, text)?);
    }
    let probe = probe.expect("WIT is not empty");
    let world = resolve.select_world(&[probe], Some("probe"))?;
    Ok((resolve, world))
}

fn kind_name(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "function",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).expect("valid WAT")
    }

    #[test]
    fn bundled_wit_resolves_to_the_probe_world() {
        let (resolve, world) = probe_world().unwrap();
        let world = &resolve.worlds[world];
        assert_eq!(world.name, "probe");
        assert!(
            world
                .exports
                .keys()
                .any(|k| resolve.name_world_key(k) == "run")
        );
    }

    #[test]
    fn a_module_without_run_is_named_as_such() {
        let err = inspect(&wat(
            r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("does not export `run`"), "{msg}");
        assert!(msg.contains("its exports are: memory, _start"), "{msg}");
    }

    #[test]
    fn run_must_be_a_function() {
        let err = inspect(&wat(r#"(module (memory (export "run") 1))"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "core module exports `run`, but as a memory, not a function"
        );
    }

    #[test]
    fn start_means_command_and_anything_else_reactor() {
        let command = wat(
            r#"(module (func (export "_start")) (func (export "run") (result i32) i32.const 0))"#,
        );
        assert_eq!(inspect(&command).unwrap().adapter, Adapter::Command);
        let reactor = wat(
            r#"(module (func (export "_initialize")) (func (export "run") (result i32) i32.const 0))"#,
        );
        assert_eq!(inspect(&reactor).unwrap().adapter, Adapter::Reactor);
        let bare = wat(r#"(module (func (export "run") (result i32) i32.const 0))"#);
        let shape = inspect(&bare).unwrap();
        assert_eq!(shape.adapter, Adapter::Reactor);
        assert!(!shape.has_component_type);
    }

    #[test]
    fn garbage_is_not_a_module() {
        assert!(matches!(
            inspect(b"\0asm\x01\0\0\0\xff\xff"),
            Err(AdaptError::Invalid(_))
        ));
    }

    #[test]
    fn a_minimal_module_becomes_a_component() {
        // `run` returns a pointer to a zeroed result: `ok`.
        let module = wat(r#"(module
            (memory (export "memory") 1)
            (func (export "run") (result i32) i32.const 16))"#);
        let component = adapt(&module).unwrap();
        assert_eq!(&component[4..8], &[0x0d, 0x00, 0x01, 0x00]);
    }

    #[test]
    fn a_wrong_signature_is_reported_by_the_encoder() {
        let module = wat(r#"(module
            (memory (export "memory") 1)
            (func (export "run") (param i32)))"#);
        let err = adapt(&module).unwrap_err().to_string();
        assert!(err.starts_with("cannot adapt the core module"), "{err}");
        assert!(err.contains("run"), "{err}");
    }
}
