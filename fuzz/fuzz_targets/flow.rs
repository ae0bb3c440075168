//! Parses arbitrary UTF-8 as a flow document. Nothing may panic, and a flow
//! that parses must serialize to a document that parses back to the same one.
//! The same body runs on random and flow-shaped documents in
//! `flowhook-core`'s `flow::properties` tests, so CI exercises it without nightly.
#![no_main]

use flowhook_core::flow::parse_flow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(flow) = parse_flow(text) else {
        return;
    };
    let again = serde_json::to_string(&flow).expect("a flow serializes");
    let reparsed = parse_flow(&again).expect("a serialized flow parses");
    assert_eq!(reparsed.document(), flow.document());
});
