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

    // The filter/name pairs live in `vectors::MATCHES`, shared with the embedded runner.
    #[test]
    fn vectors() {
        assert!(super::super::vectors::MATCHES.len() >= 60);
        for case in super::super::vectors::MATCHES {
            assert_eq!(
                super::super::vectors::check_match(case),
                Ok(()),
                "{}: {:?} vs {:?}",
                case.test,
                case.filter,
                case.name
            );
        }
    }

    #[test]
    fn system_topics() {
        assert!(is_system_topic("$SYS/x"));
        assert!(is_system_topic("$"));
        assert!(!is_system_topic("SYS/$"));
        assert!(!is_system_topic(""));
    }
}
