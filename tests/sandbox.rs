//! Hostile probes sharing one runtime with a healthy one: each is stopped with its own
//! reason, at the same time, and the healthy probe's runs are untouched.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{fixture, start};
use vigil::record::{Outcome, Reason};
use vigil::runtime::{AllowList, Limits, RunSpec, Runtime, RuntimeOptions};

fn load(rt: &Runtime, path: &str) -> vigil::runtime::Probe {
    rt.load(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_probes_do_not_disturb_a_healthy_one() {
    let server = start().await;
    let rt = Arc::new(Runtime::new(&RuntimeOptions::default()).unwrap());
    let limits = Limits {
        timeout: Duration::from_secs(3),
        cpu: Duration::from_millis(300),
        memory: 32 << 20,
        ..Limits::default()
    };
    let spec = |name: &str, url: Option<String>, allow: &[String]| {
        Arc::new(RunSpec {
            name: name.into(),
            config: url.into_iter().map(|u| ("url".to_string(), u)).collect(),
            allow: AllowList::parse(allow).unwrap(),
            limits,
            ..RunSpec::default()
        })
    };
    let allow = vec![server.allow()];
    let hostile = [
        ("spin", None, vec![], Reason::CpuLimit),
        ("sleep", None, vec![], Reason::Timeout),
        ("memory-bomb", None, vec![], Reason::MemoryLimit),
        ("log-flood", None, vec![], Reason::LimitExceeded),
        ("stdout-flood", None, vec![], Reason::LimitExceeded),
        (
            "big-body",
            Some(format!("{}/big?bytes=52428800", server.url())),
            allow.clone(),
            Reason::LimitExceeded,
        ),
        (
            "disallowed",
            Some(format!("{}/", server.url())),
            vec![],
            Reason::Denied,
        ),
        ("panic", None, vec![], Reason::Trap),
    ];
    let mut tasks = Vec::new();
    for (name, url, allow, reason) in hostile {
        let rt = rt.clone();
        let probe = load(&rt, &fixture(name));
        let spec = spec(name, url, &allow);
        tasks.push(tokio::spawn(async move {
            let run = rt.run(&probe, &spec).await;
            (name, reason, run)
        }));
    }
    // Meanwhile the healthy probe keeps running, and every run succeeds.
    let http = rt.load(vigil::builtin::find("http").unwrap().wasm).unwrap();
    let healthy = spec("healthy", Some(format!("{}/", server.url())), &allow);
    for _ in 0..20 {
        let run = rt.run(&http, &healthy).await;
        assert_eq!(run.outcome, Outcome::Success, "{run:#?}");
    }
    for task in tasks {
        let (name, reason, run) = task.await.expect("no panic in the host");
        assert_eq!(run.outcome, Outcome::Failure, "{name}");
        assert_eq!(run.reason, Some(reason), "{name}: {:?}", run.message);
    }
    // And after all of it, the runtime still runs probes.
    let noop = load(&rt, &fixture("noop"));
    let run = rt.run(&noop, &spec("noop", None, &[])).await;
    assert_eq!(run.outcome, Outcome::Success);
}
