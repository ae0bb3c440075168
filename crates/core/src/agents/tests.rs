//! Table-driven tests of agents' numbers, cli lookups and break arithmetic.

use super::*;

fn code(c: &str) -> CountryCode {
    CountryCode::parse(c).expect("a country code")
}

/// What reading a cli should give: the national number, or the error's kind.
#[derive(Debug, PartialEq)]
enum Read {
    National(&'static str),
    Characters,
    Length(usize),
    OtherCountry,
    ShortNational(usize),
    TooLong(usize),
    TooLongText,
}

fn read(cli: &str, cc: &str) -> Read {
    match AgentNumber::parse(cli, &code(cc)) {
        Ok(n) => {
            assert_eq!(n.country_code.as_str(), cc);
            Read::National(Box::leak(n.national.into_boxed_str()))
        }
        Err(CliError::Characters(_)) => Read::Characters,
        Err(CliError::Length(_, n)) => Read::Length(n),
        Err(CliError::OtherCountry { .. }) => Read::OtherCountry,
        Err(CliError::ShortNational { digits, .. }) => Read::ShortNational(digits),
        Err(CliError::TooLong { digits, .. }) => Read::TooLong(digits),
        Err(CliError::TooLongText(_)) => Read::TooLongText,
    }
}

#[test]
fn an_agents_cli_is_read_with_or_without_its_country_code() {
    use Read::*;
    let table: &[(&str, &str, Read)] = &[
        // The seeds' forms of one Indian number.
        ("8160712345", "91", National("8160712345")),
        ("918160712345", "91", National("8160712345")),
        ("+918160712345", "91", National("8160712345")),
        ("+91 81607 12345", "91", National("8160712345")),
        ("  +91-81607-12345", "91", National("8160712345")),
        ("00918160712345", "91", National("8160712345")),
        ("08160712345", "91", National("8160712345")),
        ("(0) 81607.12345", "91", National("8160712345")),
        // An Indian mobile that starts with 91 is national at 10 digits…
        ("9198765432", "91", National("9198765432")),
        // …and carries the code at 12.
        ("919198765432", "91", National("9198765432")),
        ("+919198765432", "91", National("9198765432")),
        // Other countries.
        ("12125551234", "1", National("2125551234")),
        ("2125551234", "1", National("2125551234")),
        ("+1 (212) 555-1234", "1", National("2125551234")),
        ("07911123456", "44", National("7911123456")),
        ("+447911123456", "44", National("7911123456")),
        ("447911123456", "44", National("7911123456")),
        ("91234567", "65", National("91234567")),
        ("+6591234567", "65", National("91234567")),
        // Mistakes.
        ("+447911123456", "91", OtherCountry),
        ("0044 7911 123456", "91", OtherCountry),
        ("12ab5678", "91", Characters),
        ("++918160712345", "91", Characters),
        ("91 8160 712345 ext 2", "91", Characters),
        ("8160712345\n", "91", Characters),
        ("+91\u{a0}8160712345", "91", Characters),
        ("１２３４５６", "91", Characters),
        ("123", "91", Length(3)),
        ("", "91", Length(0)),
        ("+", "91", Length(0)),
        ("  ", "91", Length(0)),
        ("0", "91", Length(0)),
        ("9999999999999999", "91", Length(16)),
        ("+9112", "91", ShortNational(2)),
        ("1234567890123", "880", TooLong(16)),
    ];
    for (cli, cc, expected) in table {
        assert_eq!(&read(cli, cc), expected, "{cli:?} with {cc}");
    }
    let too_long = "1".repeat(CLI_MAX_CHARS + 1);
    assert_eq!(read(&too_long, "91"), TooLongText);
}

#[test]
fn the_numbers_a_cli_is_looked_up_under_come_likelier_first() {
    let table: &[(&str, &str, &[&str])] = &[
        ("918160712345", "91", &["918160712345", "91918160712345"]),
        ("+91 8160712345", "91", &["918160712345"]),
        ("00918160712345", "91", &["918160712345"]),
        ("08160712345", "91", &["918160712345"]),
        ("8160712345", "91", &["918160712345", "8160712345"]),
        ("9198765432", "91", &["919198765432", "9198765432"]),
        // An agent of another country, its cli without `+`.
        ("12125551234", "91", &["9112125551234", "12125551234"]),
        ("+12125551234", "91", &["12125551234"]),
        ("447911123456", "1", &["1447911123456", "447911123456"]),
        // A reading with more than 15 digits is no number.
        ("123456789012345", "91", &["123456789012345"]),
    ];
    for (cli, cc, expected) in table {
        let cli_read = Cli::parse(cli).expect("a cli");
        assert_eq!(&cli_read.lookup_numbers(&code(cc)), expected, "{cli:?}");
    }
}

#[test]
fn every_form_of_an_agents_number_finds_it_first() {
    let agent = AgentNumber::parse("8160712345", &code("91")).expect("agent");
    assert_eq!(agent.number(), "918160712345");
    assert_eq!(agent.e164(), "+918160712345");
    for cli in [
        "918160712345",
        "+91 81607 12345",
        "0091 8160712345",
        "08160712345",
        "8160712345",
        "81607-12345",
    ] {
        let first = Cli::parse(cli).expect("cli").lookup_numbers(&code("91"));
        assert_eq!(first.first(), Some(&agent.number()), "{cli:?}");
    }
    // The agent's own reading and the lookup's first agree for every form.
    for (cli, cc) in [
        ("9198765432", "91"),
        ("919198765432", "91"),
        ("12125551234", "1"),
        ("07911123456", "44"),
    ] {
        let stored = AgentNumber::parse(cli, &code(cc)).expect("agent").number();
        let first = Cli::parse(cli).expect("cli").lookup_numbers(&code(cc));
        assert_eq!(first.first(), Some(&stored), "{cli:?}");
    }
}

#[test]
fn the_schema_pattern_refuses_exactly_what_has_bad_characters() {
    let pattern = regex::Regex::new(CLI_PATTERN).expect("pattern");
    for text in [
        "8160712345",
        " +91 (81607) 12345",
        "0091-81607.12345",
        "+",
        " ",
        "123",
        "12ab",
        "++91",
        "91+81",
        "\t918160712345",
        "918160712345 x",
        "９１",
    ] {
        let characters_ok = !matches!(Cli::parse(text), Err(CliError::Characters(_)));
        assert_eq!(pattern.is_match(text), characters_ok, "{text:?}");
    }
}

#[test]
fn country_codes_are_one_to_three_digits() {
    for ok in ["1", "91", "880"] {
        assert_eq!(code(ok).as_str(), ok);
    }
    for bad in ["", "0", "09", "1234", "+91", "9a", " 91"] {
        assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
    }
    let pattern = regex::Regex::new(CountryCode::PATTERN).expect("pattern");
    for text in ["1", "91", "880", "", "0", "09", "1234", "+91", "9a"] {
        assert_eq!(
            pattern.is_match(text),
            CountryCode::parse(text).is_ok(),
            "{text:?}"
        );
    }
}

#[test]
fn a_break_counts_only_inside_the_window_and_up_to_now() {
    /// (started, ended, from, to, now) → counted milliseconds
    type Case = ((i64, Option<i64>, i64, i64, i64), i64);
    let table: &[Case] = &[
        ((10, Some(20), 0, 100, 1000), 10),
        // Started before the window: counted from its start.
        ((-5, Some(20), 0, 100, 1000), 20),
        // Ended after the window: counted to its end.
        ((90, Some(150), 0, 100, 1000), 10),
        // Open: up to the window's end when now is past it…
        ((90, None, 0, 100, 1000), 10),
        // …or up to now.
        ((50, None, 0, 100, 70), 20),
        // Open over the whole window.
        ((-50, None, 0, 100, 1000), 100),
        // A start after now (another server's clock) counts nothing.
        ((80, None, 0, 100, 70), 0),
        // Outside the window.
        ((200, Some(300), 0, 100, 1000), 0),
        ((-300, Some(-200), 0, 100, 1000), 0),
        // Zero length.
        ((10, Some(10), 0, 100, 1000), 0),
    ];
    for ((started, ended, from, to, now), expected) in table {
        assert_eq!(
            counted_millis(*started, *ended, *from, *to, *now),
            *expected,
            "{started} {ended:?} in [{from}, {to}) at {now}"
        );
    }
    assert_eq!(seconds(754_213), 754.213);
    assert_eq!(seconds(0), 0.0);
}

#[test]
fn totals_count_and_sum_per_agent() {
    let totals = totals([("b", 1500), ("a", 10), ("b", 500), ("a", 0)]);
    let listed: Vec<_> = totals.into_iter().collect();
    assert_eq!(
        listed,
        [
            (
                "a",
                Total {
                    breaks: 2,
                    millis: 10
                }
            ),
            (
                "b",
                Total {
                    breaks: 2,
                    millis: 2000
                }
            )
        ]
    );
}
