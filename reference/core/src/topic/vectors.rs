//! The topic rules' test vectors, shared by the host tests and the embedded runner
//! (`reference/core-embedded-tests`, `cargo xtask qemu`): topic names and filters with the
//! verdict validation must give, and filter/name pairs with whether they match. The checks
//! return a [`Mismatch`] instead of panicking. They need no `alloc`.

use super::{matches, validate_topic_filter, validate_topic_name, TopicError};
use core::fmt;

/// A topic name or filter and what validating it must give.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// The name or filter.
    pub topic: &'static str,
    /// `Ok(())` or the exact error.
    pub expected: Result<(), TopicError>,
}

/// A filter, a name, and whether the filter matches the name.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    /// The host test the pair came from.
    pub test: &'static str,
    /// The topic filter.
    pub filter: &'static str,
    /// The topic name.
    pub name: &'static str,
    /// Whether `filter` matches `name`.
    pub matches: bool,
}

/// What a check found instead of the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Validation gave this instead.
    Validity(Result<(), TopicError>),
    /// Matching gave this instead.
    Matches(bool),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Validity(got) => write!(f, "validation gave {got:?}"),
            Mismatch::Matches(got) => write!(f, "matches gave {got}"),
        }
    }
}

/// `validate_topic_name(case.topic)` gives `case.expected`.
pub fn check_name(case: &Validity) -> Result<(), Mismatch> {
    let got = validate_topic_name(case.topic);
    if got == case.expected {
        Ok(())
    } else {
        Err(Mismatch::Validity(got))
    }
}

/// `validate_topic_filter(case.topic)` gives `case.expected`.
pub fn check_filter(case: &Validity) -> Result<(), Mismatch> {
    let got = validate_topic_filter(case.topic);
    if got == case.expected {
        Ok(())
    } else {
        Err(Mismatch::Validity(got))
    }
}

/// `matches(case.filter, case.name)` gives `case.matches`.
pub fn check_match(case: &Match) -> Result<(), Mismatch> {
    let got = matches(case.filter, case.name);
    if got == case.matches {
        Ok(())
    } else {
        Err(Mismatch::Matches(got))
    }
}

const fn ok(topic: &'static str) -> Validity {
    Validity {
        topic,
        expected: Ok(()),
    }
}

const fn err(topic: &'static str, e: TopicError) -> Validity {
    Validity {
        topic,
        expected: Err(e),
    }
}

use TopicError::{
    ContainsNull, Empty, MultiLevelWildcardNotLast, WildcardInName, WildcardNotAlone,
};

/// Topic names: no wildcards in a name ([MQTT-4.7.0-1] (5.0), [MQTT-4.7.1-1] (3.1.1)), at least
/// one character ([MQTT-4.7.3-1] (both)), no U+0000 ([MQTT-4.7.3-2] (both)).
pub const NAMES: &[Validity] = &[
    ok("sport/tennis/player1"),
    ok("sport"),
    ok("/"),
    ok("//"),
    ok("/finance"),
    ok("finance/"),
    ok("Accounts payable"),
    ok("ACCOUNTS"),
    ok("$SYS/monitor/Clients"),
    ok("$share/g/x"), // a name, not a filter: `$share` means nothing here
    ok("caf\u{e9}/\u{1F600}"),
    err("", Empty),
    err("a\0b", ContainsNull),
    err("\0", ContainsNull),
    err("#", WildcardInName),
    err("+", WildcardInName),
    err("sport/#", WildcardInName),
    err("sport/+", WildcardInName),
    err("sp+rt", WildcardInName),
    err("sport#", WildcardInName),
    err("a/+/b", WildcardInName),
    err("$SYS/#", WildcardInName),
];

/// Topic filters: the examples of MQTT 5.0 §4.7.1.2, §4.7.1.3 and §4.7.3, and misplaced
/// wildcards ([MQTT-4.7.1-1] (5.0), [MQTT-4.7.1-2] (5.0), [MQTT-4.7.1-2] (3.1.1),
/// [MQTT-4.7.1-3] (3.1.1)).
pub const FILTERS: &[Validity] = &[
    ok("sport/tennis/player1/#"),
    ok("sport/#"),
    ok("#"),
    ok("sport/tennis/#"),
    ok("+"),
    ok("+/tennis/#"),
    ok("sport/+/player1"),
    ok("+/+"),
    ok("/+"),
    ok("+/monitor/Clients"),
    ok("$SYS/#"),
    ok("$SYS/monitor/+"),
    ok("/"),
    ok("//"),
    ok("/finance"),
    ok("Accounts payable"),
    ok("+/+/+"),
    ok("+/x/+"),
    ok("+/#"),
    ok("/#"),
    ok("//#"),
    ok("$share"), // no `/` after it: an ordinary filter
    ok("$sharex/a/b"),
    ok("$SHARE//x"), // case sensitive: not a shared subscription
    err("", Empty),
    err("a/\0/#", ContainsNull),
    err("sport/tennis#", WildcardNotAlone),
    err("sport#", WildcardNotAlone),
    err("#sport", WildcardNotAlone),
    err("sport+", WildcardNotAlone),
    err("sp+rt", WildcardNotAlone),
    err("+a/b", WildcardNotAlone),
    err("a/b+", WildcardNotAlone),
    err("a/#b", WildcardNotAlone),
    err("++", WildcardNotAlone),
    err("##", WildcardNotAlone),
    err("a/+#", WildcardNotAlone),
    err("sport/tennis/#/ranking", MultiLevelWildcardNotLast),
    err("sport/#/x", MultiLevelWildcardNotLast),
    err("#/", MultiLevelWildcardNotLast),
    err("#/#", MultiLevelWildcardNotLast),
    err("#/+", MultiLevelWildcardNotLast),
    err("a/#/", MultiLevelWildcardNotLast),
];

/// Filter/name pairs: the examples of MQTT 5.0 §4.7 (3.1.1 §4.7), `$` topics
/// ([MQTT-4.7.2-1] (both)) and no normalisation ([MQTT-4.7.3-4] (both)).
pub const MATCHES: &[Match] = &[
    // MQTT 5.0 §4.7.1.2 (3.1.1 §4.7.1.2).
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/player1/#",
        name: "sport/tennis/player1",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/player1/#",
        name: "sport/tennis/player1/ranking",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/player1/#",
        name: "sport/tennis/player1/score/wimbledon",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/player1/#",
        name: "sport/tennis/player2",
        matches: false,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/player1/#",
        name: "sport/tennis",
        matches: false,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/#",
        name: "sport",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/#",
        name: "sport/",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/#",
        name: "sport/tennis/player1",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/#",
        name: "sports",
        matches: false,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "#",
        name: "sport",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "#",
        name: "/",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "#",
        name: "a/b/c/d",
        matches: true,
    },
    Match {
        test: "spec_multi_level_wildcard",
        filter: "sport/tennis/#",
        name: "sport/tennis/x",
        matches: true,
    },
    // MQTT 5.0 §4.7.1.3 (3.1.1 §4.7.1.3).
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/tennis/+",
        name: "sport/tennis/player1",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/tennis/+",
        name: "sport/tennis/player2",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/tennis/+",
        name: "sport/tennis/player1/ranking",
        matches: false,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/+",
        name: "sport",
        matches: false,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/+",
        name: "sport/",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+",
        name: "sport",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+",
        name: "sport/",
        matches: false,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+/tennis/#",
        name: "sport/tennis",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+/tennis/#",
        name: "sport/tennis/player1/ranking",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/+/player1",
        name: "sport/tennis/player1",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "sport/+/player1",
        name: "sport/tennis/player2",
        matches: false,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+/+",
        name: "/finance",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "/+",
        name: "/finance",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+",
        name: "/finance",
        matches: false,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+/+",
        name: "/",
        matches: true,
    },
    Match {
        test: "spec_single_level_wildcard",
        filter: "+",
        name: "",
        matches: true,
    },
    //c");
    Match {
        test: "spec_single_level_wildcard",
        filter: "+/+/+",
        name: "a//c",
        matches: true,
    },
    // MQTT 5.0 §4.7.2 (3.1.1 §4.7.2): [MQTT-4.7.2-1] (both).
    Match {
        test: "spec_dollar_topics",
        filter: "#",
        name: "$SYS",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "#",
        name: "$SYS/monitor/Clients",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "+/monitor/Clients",
        name: "$SYS/monitor/Clients",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "+",
        name: "$SYS",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "+/#",
        name: "$SYS/x",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "#",
        name: "$",
        matches: false,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "$SYS/#",
        name: "$SYS/",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "$SYS/#",
        name: "$SYS",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "$SYS/#",
        name: "$SYS/monitor/Clients",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "$SYS/monitor/+",
        name: "$SYS/monitor/Clients",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "$SYS/monitor/Clients",
        name: "$SYS/monitor/Clients",
        matches: true,
    },
    // Only the first level is reserved.
    Match {
        test: "spec_dollar_topics",
        filter: "+/monitor/Clients",
        name: "x/monitor/Clients",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "a/+",
        name: "a/$SYS",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "a/#",
        name: "a/$SYS/x",
        matches: true,
    },
    Match {
        test: "spec_dollar_topics",
        filter: "#",
        name: "x$",
        matches: true,
    },
    // MQTT 5.0 §4.7.3: case sensitive, spaces allowed, leading `/` is distinct, no
    // normalisation ([MQTT-4.7.3-4] (both)).
    Match {
        test: "spec_semantics",
        filter: "ACCOUNTS",
        name: "Accounts",
        matches: false,
    },
    Match {
        test: "spec_semantics",
        filter: "Accounts payable",
        name: "Accounts payable",
        matches: true,
    },
    Match {
        test: "spec_semantics",
        filter: "/finance",
        name: "finance",
        matches: false,
    },
    Match {
        test: "spec_semantics",
        filter: "finance",
        name: "/finance",
        matches: false,
    },
    Match {
        test: "spec_semantics",
        filter: "finance/",
        name: "finance",
        matches: false,
    },
    Match {
        test: "spec_semantics",
        filter: "/",
        name: "/",
        matches: true,
    },
    //");
    Match {
        test: "spec_semantics",
        filter: "/",
        name: "//",
        matches: false,
    },
    // U+00E9 precomposed vs `e` + U+0301 combining: equal after NFC, different bytes.
    Match {
        test: "spec_semantics",
        filter: "caf\u{e9}",
        name: "cafe\u{301}",
        matches: false,
    },
    Match {
        test: "spec_semantics",
        filter: "caf\u{e9}/+",
        name: "caf\u{e9}/x",
        matches: true,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/b/c",
        name: "a/b/c",
        matches: true,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/b/c",
        name: "a/b",
        matches: false,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/b",
        name: "a/b/c",
        matches: false,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/+",
        name: "a/b/c",
        matches: false,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/+/#",
        name: "a/b",
        matches: true,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/+/#",
        name: "a/b/c/d",
        matches: true,
    },
    Match {
        test: "exact_and_length_mismatch",
        filter: "a/+/#",
        name: "a",
        matches: false,
    },
    // Callers strip `$share/{ShareName}/` first; passed whole, it is compared literally.
    Match {
        test: "shared_filters_are_literal_here",
        filter: "$share/g/sport/#",
        name: "sport/tennis",
        matches: false,
    },
    Match {
        test: "shared_filters_are_literal_here",
        filter: "$share/g/sport/#",
        name: "$share/g/sport/x",
        matches: true,
    },
];
