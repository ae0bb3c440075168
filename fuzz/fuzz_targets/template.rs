//! Parses arbitrary UTF-8 as a template and renders it in every context.
//! Nothing may panic, and a parsed template must keep its source text.
//! The same body runs on random strings in `flowhook-core`'s `fuzz_equivalent`
//! property test, so CI exercises it without nightly.
#![no_main]

use flowhook_core::template::{Context, Template};
use flowhook_core::vars::Variables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(template) = Template::parse(text) else {
        return;
    };
    assert_eq!(template.source(), text);
    for value in ["", "a\"b<c&d/e\nf", "é\u{0}\r\n%", text] {
        let vars: Variables = template
            .vars()
            .map(|v| (v.clone(), value.to_owned()))
            .collect();
        for context in Context::ALL {
            let _ = template.render(&vars, context);
        }
    }
});
