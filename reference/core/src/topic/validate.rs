//! Validation of topic names, topic filters and shared-subscription filters.
//!
//! A server validates the topic name of every PUBLISH and the filters of every SUBSCRIBE and
//! UNSUBSCRIBE before matching: an invalid name is a protocol error (reason code 0x90), an
//! invalid filter fails that subscription (0x8F). Checks run on bytes, so validation is linear in
//! the length, allocates nothing and never panics, whatever the input.
//!
//! The checks, in the order they run (so an input breaking several rules reports the first):
//! empty, longer than 65,535 bytes, contains U+0000, then the wildcard rules (names: none at all;
//! filters: each wildcard alone in its level, `#` only last), then for `$share/` filters the
//! ShareName rules.

use super::TopicError;

/// The largest topic name or filter, in bytes: the length prefix of a UTF-8 Encoded String is a
/// `u16` ([MQTT-4.7.3-3] (both)).
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The prefix that marks a topic filter as a 5.0 shared subscription ([MQTT-4.8.2-1]). Case
/// sensitive, like every topic comparison.
pub const SHARE_PREFIX: &str = "$share/";

/// A shared-subscription filter `$share/{ShareName}/{filter}` split into its parts (MQTT 5.0
/// §4.8.2). Both parts borrow from the filter that was parsed.
///
/// Only `filter` takes part in matching: a broker inserts `filter` (not the whole `$share/...`
/// string) into its `TopicTrie` and keeps the group (`share_name`) in its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedSubscription<'a> {
    /// The group name: at least one character, without `/`, `+` or `#`.
    pub share_name: &'a str,
    /// The topic filter after the ShareName, already validated as a topic filter.
    pub filter: &'a str,
}

/// Checks a topic name, as found in a PUBLISH (or a Will Topic).
///
/// A name is valid when it is non-empty, at most 65,535 bytes, without U+0000 and without the
/// wildcard characters `+` and `#`. Names starting with `$` are valid here; whether a client may
/// publish to them is the server's policy (see [`is_system_topic`](super::is_system_topic)).
///
/// # Errors
/// The first rule broken, as a [`TopicError`].
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    // [MQTT-4.7.0-1] (5.0), [MQTT-4.7.1-1] (3.1.1): no wildcard anywhere in a topic name.
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter, as found in a SUBSCRIBE or UNSUBSCRIBE.
///
/// A filter is valid when it is non-empty, at most 65,535 bytes, without U+0000, when every `+` or
/// `#` fills a whole level, and when `#` is the last level. `sport/#`, `#`, `+/tennis/#`,
/// `sport/+/player1` and `/` are valid; `sport#`, `sport+` and `sport/#/ranking` are not.
///
/// A filter starting with `$share/` is checked as a 5.0 shared subscription (see
/// [`parse_shared`]): `$share//x` or `$share/g` are rejected. MQTT 3.1.1 has no shared
/// subscriptions; a 3.1.1 server that wants those strings treated as plain filters must decide
/// that itself before calling this.
///
/// # Errors
/// The first rule broken, as a [`TopicError`].
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    match parse_shared(filter)? {
        // `parse_shared` validated the inner filter.
        Some(_) => Ok(()),
        None => check_filter_levels(filter),
    }
}

/// Splits a 5.0 shared-subscription filter `$share/{ShareName}/{filter}`.
///
/// Returns `Ok(None)` when `filter` does not start with `$share/` (an ordinary filter, which this
/// function does not validate), `Ok(Some(_))` when it is a valid shared-subscription filter, and an
/// error when it starts with `$share/` but is not valid: empty ShareName or one with `+` or `#`,
/// nothing after the ShareName, or an invalid filter after it.
///
/// The function is version-agnostic: MQTT 3.1.1 has no shared subscriptions, so a 3.1.1 caller
/// simply does not call it.
///
/// # Errors
/// The first rule broken, as a [`TopicError`].
pub fn parse_shared(filter: &str) -> Result<Option<SharedSubscription<'_>>, TopicError> {
    // [MQTT-4.8.2-1] (5.0): a shared subscription's filter starts with `$share/`.
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(None);
    };
    check_common(filter)?;
    let Some((share_name, inner)) = rest.split_once('/') else {
        // [MQTT-4.8.2-1] (5.0): `$share/` alone has no ShareName at all.
        // [MQTT-4.8.2-2] (5.0): `$share/g` has a ShareName not followed by `/` and a filter.
        return Err(if rest.is_empty() {
            TopicError::ShareNameInvalid
        } else {
            TopicError::SharedFilterMissing
        });
    };
    // [MQTT-4.8.2-1] (5.0): the ShareName is at least one character long.
    // [MQTT-4.8.2-2] (5.0): the ShareName contains no `/` (true by the split above), `+` or `#`.
    if share_name.is_empty() || share_name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::ShareNameInvalid);
    }
    // [MQTT-4.8.2-2] (5.0): the `/` after the ShareName is followed by a topic filter, and a
    // topic filter is at least one character long ([MQTT-4.7.3-1] (both)).
    if inner.is_empty() {
        return Err(TopicError::SharedFilterMissing);
    }
    check_filter_levels(inner)?;
    Ok(Some(SharedSubscription {
        share_name,
        filter: inner,
    }))
}

/// A filter's syntax without the shared-subscription interpretation: what the
/// [`TopicTrie`](super::TopicTrie) stores, since callers insert the inner filter of a `$share/`
/// subscription and a leading `$share` level is then just a literal level.
#[cfg(feature = "alloc")]
pub(super) fn validate_plain_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    check_filter_levels(filter)
}

/// The rules names and filters share: length and U+0000.
fn check_common(topic: &str) -> Result<(), TopicError> {
    // [MQTT-4.7.3-1] (5.0 and 3.1.1): at least one character long.
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    // [MQTT-4.7.3-3] (5.0 and 3.1.1): no more than 65,535 bytes once encoded; a `&str` is
    // already UTF-8, so its length is the encoded length.
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    // [MQTT-4.7.3-2] (5.0 and 3.1.1), and [MQTT-1.5.4-2] for strings in general: no U+0000.
    if topic.bytes().any(|b| b == 0) {
        return Err(TopicError::ContainsNull);
    }
    Ok(())
}

/// The wildcard placement rules of a topic filter, level by level. `filter` is non-empty.
fn check_filter_levels(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" => {
                // [MQTT-4.7.1-1] (5.0), [MQTT-4.7.1-2] (3.1.1): `#` is the last character of the
                // filter, so nothing (not even an empty level) may follow its level.
                if levels.peek().is_some() {
                    return Err(TopicError::MultiLevelWildcardNotLast);
                }
            }
            "+" => {}
            _ => {
                // [MQTT-4.7.1-1] (5.0), [MQTT-4.7.1-2] (3.1.1): `#` on its own or after `/`.
                // [MQTT-4.7.1-2] (5.0), [MQTT-4.7.1-3] (3.1.1): `+` occupies an entire level.
                if level.bytes().any(|b| b == b'+' || b == b'#') {
                    return Err(TopicError::WildcardNotAlone);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The names and filters live in `vectors`, shared with the embedded runner.
    #[test]
    fn names() {
        use super::super::vectors::{check_name, NAMES};
        assert!(NAMES.len() >= 20);
        for case in NAMES {
            assert_eq!(check_name(case), Ok(()), "{:?}", case.topic);
        }
    }

    #[test]
    fn length_limit_is_65535_bytes() {
        // Tests always have std, so this runs without `alloc` too.
        use std::string::String;
        let max = "a".repeat(MAX_TOPIC_LEN);
        assert_eq!(validate_topic_name(&max), Ok(()));
        assert_eq!(validate_topic_filter(&max), Ok(()));
        let over = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&over), Err(TopicError::TooLong));
        assert_eq!(validate_topic_filter(&over), Err(TopicError::TooLong));
        // Bytes, not characters: 21,845 three-byte characters are 65,535 bytes, one more is over.
        let wide: String = "\u{20AC}".repeat(MAX_TOPIC_LEN / 3);
        assert_eq!(validate_topic_name(&wide), Ok(()));
        let wider = wide + "\u{20AC}";
        assert_eq!(validate_topic_name(&wider), Err(TopicError::TooLong));
        // Length is checked on the whole shared filter, not only on its inner part.
        let shared = String::from("$share/g/") + &"a".repeat(MAX_TOPIC_LEN - 8);
        assert_eq!(validate_topic_filter(&shared), Err(TopicError::TooLong));
        assert_eq!(parse_shared(&shared), Err(TopicError::TooLong));
    }

    #[test]
    fn filters() {
        use super::super::vectors::{check_filter, FILTERS};
        assert!(FILTERS.len() >= 40);
        for case in FILTERS {
            assert_eq!(check_filter(case), Ok(()), "{:?}", case.topic);
        }
    }

    #[test]
    fn shared_valid() {
        // The examples of MQTT 5.0 §4.8.2.
        assert_eq!(
            parse_shared("$share/consumer1/sport/tennis/+"),
            Ok(Some(SharedSubscription {
                share_name: "consumer1",
                filter: "sport/tennis/+"
            }))
        );
        assert_eq!(
            parse_shared("$share/consumer1//finance"),
            Ok(Some(SharedSubscription {
                share_name: "consumer1",
                filter: "/finance"
            }))
        );
        assert_eq!(
            parse_shared("$share/g/#"),
            Ok(Some(SharedSubscription {
                share_name: "g",
                filter: "#"
            }))
        );
        // The inner filter may itself start with `$` or `$share`.
        assert_eq!(
            parse_shared("$share/g/$share/h/x"),
            Ok(Some(SharedSubscription {
                share_name: "g",
                filter: "$share/h/x"
            }))
        );
        assert_eq!(
            parse_shared("$share/a b$c/x/"),
            Ok(Some(SharedSubscription {
                share_name: "a b$c",
                filter: "x/"
            }))
        );
        for filter in [
            "$share/consumer1/sport/tennis/+",
            "$share/g/#",
            "$share/g//",
        ] {
            assert_eq!(validate_topic_filter(filter), Ok(()), "{filter:?}");
        }
    }

    #[test]
    fn not_shared() {
        for filter in [
            "sport/#",
            "$share",
            "$sharex/g/x",
            "$SHARE/g/x",
            "x/$share/g/x",
            "",
            "#",
        ] {
            assert_eq!(parse_shared(filter), Ok(None), "{filter:?}");
        }
    }

    #[test]
    fn shared_invalid() {
        for filter in [
            "$share/",
            "$share//x",
            "$share//",
            "$share/+/x",
            "$share/#/x",
            "$share/g+/x",
            "$share/a#b/x",
        ] {
            assert_eq!(
                parse_shared(filter),
                Err(TopicError::ShareNameInvalid),
                "{filter:?}"
            );
            assert_eq!(
                validate_topic_filter(filter),
                Err(TopicError::ShareNameInvalid),
                "{filter:?}"
            );
        }
        for filter in ["$share/g", "$share/g/", "$share/consumer1"] {
            assert_eq!(
                parse_shared(filter),
                Err(TopicError::SharedFilterMissing),
                "{filter:?}"
            );
            assert_eq!(
                validate_topic_filter(filter),
                Err(TopicError::SharedFilterMissing),
                "{filter:?}"
            );
        }
        // The inner filter follows every topic-filter rule.
        assert_eq!(
            parse_shared("$share/g/sp+rt"),
            Err(TopicError::WildcardNotAlone)
        );
        assert_eq!(
            parse_shared("$share/g/#/x"),
            Err(TopicError::MultiLevelWildcardNotLast)
        );
        assert_eq!(parse_shared("$share/g\0/x"), Err(TopicError::ContainsNull));
        assert_eq!(
            validate_topic_filter("$share/g/a/\0"),
            Err(TopicError::ContainsNull)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn error_is_std_error_with_display() {
        use std::string::ToString;
        let e: &dyn std::error::Error = &TopicError::WildcardNotAlone;
        assert_eq!(
            e.to_string(),
            "wildcard character ('+' or '#') does not occupy an entire topic level"
        );
    }
}
