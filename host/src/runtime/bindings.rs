//! Host-side bindings for the `vigil:probe/probe` world (`wit/probe.wit`).
//!
//! WASI and wasi:http types come from wasmtime's own crates (`with:`), so only the `host`
//! interface and the `run` export are generated here. Host functions are synchronous and
//! trappable (a probe past its log cap is stopped); the export is called asynchronously so
//! a run can yield while it waits on I/O or at epoch ticks.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "vigil:probe/probe",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi": wasmtime_wasi::p2::bindings,
    },
});
