//! Core module → component, the way the host adapts core modules at load time: the WIT
//! world comes from the module's `component-type` custom section, and wasip1 imports are
//! served by the preview1 reactor adapter.

use anyhow::Context as _;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::ComponentEncoder;

/// Encode `core` (a module that carries its WIT metadata) as a component.
/// `adapt` adds the wasip1 reactor adapter, needed when the module imports
/// `wasi_snapshot_preview1` (anything built against wasi-libc).
pub fn from_core_module(core: &[u8], adapt: bool) -> anyhow::Result<Vec<u8>> {
    let mut encoder = ComponentEncoder::default();
    encoder
        .validate(true)
        .module(core)
        .context("the core module has no usable component-type metadata")?;
    if adapt {
        encoder
            .adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .context("cannot use the wasip1 reactor adapter")?;
    }
    encoder.encode().context("cannot encode the component")
}
