//! Compiles arbitrary UTF-8 as a JSON response path (RFC 9535 JSONPath or the
//! dotted `data.`/`x.` form) and evaluates what compiles on a small body.
//! Nothing may panic, and a compiled path may not refuse a valid JSON body.
//! `flowhook-core`'s `paths` property tests run the same checks on random text.
#![no_main]

use flowhook_core::paths::{ResponsePath, ResponseType};
use libfuzzer_sys::fuzz_target;

const BODY: &str = r#"{"a":[1,{"b":"c","d":[true,null,2.5]}],"x":{"y":"z"},"e":""}"#;

fuzz_target!(|text: &str| {
    let Ok(path) = ResponsePath::parse(ResponseType::Json, text) else {
        return;
    };
    assert!(path.extract(BODY).is_ok());
});
