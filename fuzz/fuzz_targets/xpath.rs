//! Compiles arbitrary UTF-8 as an XML response path (XPath 1.0) and evaluates
//! what compiles on a small body. Nothing may panic (the engine's own panics
//! are caught inside), and a compiled path may not refuse a valid XML body.
//! `flowhook-core`'s `paths` property tests run the same checks on random text.
#![no_main]

use flowhook_core::paths::{ResponsePath, ResponseType};
use libfuzzer_sys::fuzz_target;

const BODY: &str = "<a x='1'><b id='1'>c</b><b/><!-- n --><c>2.5</c></a>";

fuzz_target!(|text: &str| {
    let Ok(path) = ResponsePath::parse(ResponseType::Xml, text) else {
        return;
    };
    assert!(path.extract(BODY).is_ok());
});
