//! Micro-benchmark of one flow step through the runner: what the engine adds
//! around a widget's own work (dispatch, change tracking, the trace entry, the
//! `$user.key` bookkeeping), for `store_variable` and `condition` steps.
//!
//! Baseline in the same run: the widget's pure semantics called directly on a
//! variable map (`StoreVariable::apply`, `Condition::select_line`), which is the
//! floor any runner must pay. Each run executes a 10-step flow and reports the
//! time per step.
//!
//! Run: `cargo bench -p flowhook-engine --bench steps`; see BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flowhook_core::flow::{WidgetKind, parse_flow};
use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::vars::{VarName, Variables};
use flowhook_engine::egress::{Egress, EgressConfig};
use flowhook_engine::runner::{AccountContext, ExecutionInput, Hangup, MemoryUserKeys, Runner};

const STEPS: usize = 10;

/// Five store_variable + condition pairs, each assignment a typical template.
fn flow_json() -> String {
    let mut widgets = Vec::new();
    for i in 0..STEPS / 2 {
        let next = if i + 1 < STEPS / 2 {
            format!("\"s{}\"", i + 1)
        } else {
            "null".into()
        };
        widgets.push(format!(
            r#""s{i}": {{"type": "store_variable", "assign": {{"$flow.key.greeting{i}": "Hello $flow.key.name from $call.cli.number"}}, "lines": ["c{i}"]}},
               "c{i}": {{"type": "condition", "cases": [{{"when": {{"var": "$flow.key.tier", "op": "eq", "value": "gold"}}}}], "lines": [{next}, {next}]}}"#
        ));
    }
    format!(
        r#"{{"name": "bench", "start": "s0", "widgets": {{{}}}}}"#,
        widgets.join(",")
    )
}

fn input() -> ExecutionInput {
    let mut keys = Variables::new();
    for i in 0..30 {
        keys.insert(
            VarName::parse(&format!("$flow.key.k{i}")).expect("var"),
            format!("value {i}"),
        );
    }
    keys.insert(
        VarName::parse("$flow.key.name").expect("var"),
        "Asha".into(),
    );
    keys.insert(
        VarName::parse("$flow.key.tier").expect("var"),
        "silver".into(),
    );
    ExecutionInput {
        id: ExecutionId::generate(),
        account: AccountContext {
            id: AccountId::generate(),
            client_id: 1,
            allow_http: false,
        },
        flow_id: "Bench001".into(),
        contact: "918000374000".into(),
        call: [
            ("cli.number".to_owned(), "918000374000".to_owned()),
            ("incoming".to_owned(), "true".to_owned()),
        ]
        .into_iter()
        .collect(),
        keys,
    }
}

fn steps(c: &mut Criterion) {
    let flow = parse_flow(&flow_json()).expect("valid flow");
    let input = input();
    let runner = Runner::new(Egress::new(EgressConfig::default()).expect("egress"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let outcome = rt.block_on(runner.run(
        &flow,
        &input,
        &MemoryUserKeys::default(),
        &Hangup::default(),
    ));
    assert_eq!(outcome.trace.len(), STEPS, "the flow runs every step");

    let mut group = c.benchmark_group("flow_step");
    group.throughput(criterion::Throughput::Elements(STEPS as u64));
    group.bench_function("runner_10_steps", |b| {
        b.iter(|| {
            let keys = MemoryUserKeys::default();
            rt.block_on(runner.run(black_box(&flow), &input, &keys, &Hangup::default()))
        })
    });

    // Baseline: the same widgets' semantics on a plain map, no runner.
    let widgets: Vec<_> = (0..STEPS / 2)
        .map(|i| {
            let s = flow.widget(&format!("s{i}")).expect("s");
            let c = flow.widget(&format!("c{i}")).expect("c");
            match (&s.kind, &c.kind) {
                (WidgetKind::StoreVariable(s), WidgetKind::Condition(c)) => (s.clone(), c.clone()),
                _ => unreachable!("built above"),
            }
        })
        .collect();
    let initial = Runner::initial_variables(&input);
    group.bench_function("baseline_pure_semantics_10_steps", |b| {
        b.iter(|| {
            let mut vars = initial.clone();
            for (store, condition) in &widgets {
                let _ = black_box(store.apply(&mut vars));
                let _ = black_box(condition.select_line(&vars));
            }
            vars
        })
    });
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
