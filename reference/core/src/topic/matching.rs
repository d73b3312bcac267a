//! Matching one topic filter against one topic name, without allocating.
//!
//! This is the definition of a match that everything else (the [`TopicTrie`](super::TopicTrie),
//! the broker's retained-message lookup, the conformance scenarios' expectations) agrees with:
//! walk the levels of both, a literal level must equal the name's level byte for byte, `+` takes
//! any one level (even an empty one), `#` takes all the remaining levels including none at all.
//! A filter whose first level is a wildcard never matches a name starting with `$`.

/// Whether `name` is a server-reserved topic: one starting with `$`, such as `$SYS/uptime`.
///
/// Filters starting with a wildcard do not match such names ([MQTT-4.7.2-1] (both)), and a
/// server should not let clients use them to talk to each other (5.0 §4.7.2, a SHOULD). Meant for
/// topic names: the filter `$share/g/x` also starts with `$`, so strip the shared-subscription part
/// with [`parse_shared`](super::parse_shared) first if a filter is what you hold.
#[must_use]
pub fn is_system_topic(name: &str) -> bool {
    name.starts_with('$')
}

/// Whether the topic filter `filter` matches the topic name `name`.
///
/// Both are expected to be valid (see [`validate_topic_filter`](super::validate_topic_filter) and
/// [`validate_topic_name`](super::validate_topic_name)); for invalid input the answer is
/// unspecified but the function still returns, without panicking. A shared-subscription filter
/// must be passed as its inner filter (the `filter` of [`parse_shared`](super::parse_shared)):
/// `$share/g/x` passed whole is compared as the literal levels `$share`, `g`, `x`.
///
/// ```
/// use mqttref_core::topic::matches;
/// assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
/// assert!(matches("sport/+", "sport/"));
/// assert!(!matches("sport/+", "sport"));
/// assert!(!matches("#", "$SYS/uptime"));
/// assert!(matches("$SYS/#", "$SYS/uptime"));
/// ```
#[must_use]
pub fn matches(filter: &str, name: &str) -> bool {
    // [MQTT-4.7.2-1] (5.0 and 3.1.1): a filter starting with `#` or `+` does not match a name
    // starting with `$`. Only the first level is concerned: `$SYS/#` and `a/+` match as usual.
    if is_system_topic(name) && filter.starts_with(['#', '+']) {
        return false;
    }
    // [MQTT-4.7.3-4] (5.0 and 3.1.1): no normalisation; levels are compared as bytes.
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            // `#` matches the rest of the name, which may be nothing: `sport/#` matches `sport`
            // (5.0 §4.7.1.2, "includes the parent level").
            (Some("#"), _) => return true,
            // `+` matches exactly one level, which may be empty: `sport/+` matches `sport/`.
            (Some("+"), Some(_)) => {}
            (Some(f), Some(n)) => {
                if f != n {
                    return false;
                }
            }
            (None, None) => return true,
            // One ran out of levels before the other.
            (Some(_), None) | (None, Some(_)) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn yes(filter: &str, name: &str) {
        assert!(matches(filter, name), "{filter:?} should match {name:?}");
    }

    #[track_caller]
    fn no(filter: &str, name: &str) {
        assert!(
            !matches(filter, name),
            "{filter:?} should not match {name:?}"
        );
    }

    #[test]
    fn spec_multi_level_wildcard() {
        // MQTT 5.0 §4.7.1.2 (3.1.1 §4.7.1.2).
        yes("sport/tennis/player1/#", "sport/tennis/player1");
        yes("sport/tennis/player1/#", "sport/tennis/player1/ranking");
        yes(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon",
        );
        no("sport/tennis/player1/#", "sport/tennis/player2");
        no("sport/tennis/player1/#", "sport/tennis");
        yes("sport/#", "sport");
        yes("sport/#", "sport/");
        yes("sport/#", "sport/tennis/player1");
        no("sport/#", "sports");
        yes("#", "sport");
        yes("#", "/");
        yes("#", "a/b/c/d");
        yes("sport/tennis/#", "sport/tennis/x");
    }

    #[test]
    fn spec_single_level_wildcard() {
        // MQTT 5.0 §4.7.1.3 (3.1.1 §4.7.1.3).
        yes("sport/tennis/+", "sport/tennis/player1");
        yes("sport/tennis/+", "sport/tennis/player2");
        no("sport/tennis/+", "sport/tennis/player1/ranking");
        no("sport/+", "sport");
        yes("sport/+", "sport/");
        yes("+", "sport");
        no("+", "sport/");
        yes("+/tennis/#", "sport/tennis");
        yes("+/tennis/#", "sport/tennis/player1/ranking");
        yes("sport/+/player1", "sport/tennis/player1");
        no("sport/+/player1", "sport/tennis/player2");
        yes("+/+", "/finance");
        yes("/+", "/finance");
        no("+", "/finance");
        yes("+/+", "/");
        yes("+", "");
        yes("+/+/+", "a//c");
    }

    #[test]
    fn spec_dollar_topics() {
        // MQTT 5.0 §4.7.2 (3.1.1 §4.7.2): [MQTT-4.7.2-1] (both).
        no("#", "$SYS");
        no("#", "$SYS/monitor/Clients");
        no("+/monitor/Clients", "$SYS/monitor/Clients");
        no("+", "$SYS");
        no("+/#", "$SYS/x");
        no("#", "$");
        yes("$SYS/#", "$SYS/");
        yes("$SYS/#", "$SYS");
        yes("$SYS/#", "$SYS/monitor/Clients");
        yes("$SYS/monitor/+", "$SYS/monitor/Clients");
        yes("$SYS/monitor/Clients", "$SYS/monitor/Clients");
        // Only the first level is reserved.
        yes("+/monitor/Clients", "x/monitor/Clients");
        yes("a/+", "a/$SYS");
        yes("a/#", "a/$SYS/x");
        yes("#", "x$");
        assert!(is_system_topic("$SYS/x"));
        assert!(is_system_topic("$"));
        assert!(!is_system_topic("SYS/$"));
        assert!(!is_system_topic(""));
    }

    #[test]
    fn spec_semantics() {
        // MQTT 5.0 §4.7.3: case sensitive, spaces allowed, leading `/` is distinct, no
        // normalisation ([MQTT-4.7.3-4] (both)).
        no("ACCOUNTS", "Accounts");
        yes("Accounts payable", "Accounts payable");
        no("/finance", "finance");
        no("finance", "/finance");
        no("finance/", "finance");
        yes("/", "/");
        no("/", "//");
        // U+00E9 precomposed vs `e` + U+0301 combining: equal after NFC, different bytes.
        no("caf\u{e9}", "cafe\u{301}");
        yes("caf\u{e9}/+", "caf\u{e9}/x");
    }

    #[test]
    fn exact_and_length_mismatch() {
        yes("a/b/c", "a/b/c");
        no("a/b/c", "a/b");
        no("a/b", "a/b/c");
        no("a/+", "a/b/c");
        yes("a/+/#", "a/b");
        yes("a/+/#", "a/b/c/d");
        no("a/+/#", "a");
    }

    #[test]
    fn shared_filters_are_literal_here() {
        // Callers strip `$share/{ShareName}/` first; passed whole, it is compared literally.
        no("$share/g/sport/#", "sport/tennis");
        yes("$share/g/sport/#", "$share/g/sport/x");
    }
}
