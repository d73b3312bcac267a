//! [`TopicError`]: why a topic name, topic filter or shared-subscription filter is invalid.
//!
//! One variant per rule, so that a caller can both pick the reason code (0x90 Topic Name invalid
//! for a PUBLISH, 0x8F Topic Filter invalid for a SUBSCRIBE, 0x9E Shared Subscriptions not
//! supported is the caller's own decision) and report which statement was broken.

use core::fmt;

/// Why a topic name or topic filter is invalid. Each variant names the statement it enforces.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicError {
    /// The topic is empty: [MQTT-4.7.3-1] (5.0 and 3.1.1).
    Empty,
    /// The topic is longer than 65,535 bytes: [MQTT-4.7.3-3] (5.0 and 3.1.1).
    TooLong,
    /// The topic contains U+0000: [MQTT-4.7.3-2] (5.0 and 3.1.1).
    ContainsNull,
    /// A topic name contains `+` or `#`: [MQTT-4.7.0-1] (5.0), [MQTT-4.7.1-1] (3.1.1).
    WildcardInName,
    /// `#` is followed by more of the filter (`sport/#/ranking`): [MQTT-4.7.1-1] (5.0),
    /// [MQTT-4.7.1-2] (3.1.1).
    MultiLevelWildcardNotLast,
    /// `+` or `#` shares its level with other characters (`sport+`, `sport#`):
    /// [MQTT-4.7.1-1] and [MQTT-4.7.1-2] (5.0), [MQTT-4.7.1-2] and [MQTT-4.7.1-3] (3.1.1).
    WildcardNotAlone,
    /// The ShareName of a `$share/` filter is empty or contains `+` or `#`: [MQTT-4.8.2-1],
    /// [MQTT-4.8.2-2] (5.0 only).
    ShareNameInvalid,
    /// A `$share/{ShareName}` filter has no `/` and topic filter after the ShareName:
    /// [MQTT-4.8.2-2] (5.0 only).
    SharedFilterMissing,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is longer than 65535 bytes",
            TopicError::ContainsNull => "topic contains the null character U+0000",
            TopicError::WildcardInName => "topic name contains a wildcard character ('+' or '#')",
            TopicError::MultiLevelWildcardNotLast => {
                "multi-level wildcard '#' is not the last level of the topic filter"
            }
            TopicError::WildcardNotAlone => {
                "wildcard character ('+' or '#') does not occupy an entire topic level"
            }
            TopicError::ShareNameInvalid => {
                "shared subscription ShareName is empty or contains '+' or '#'"
            }
            TopicError::SharedFilterMissing => {
                "shared subscription has no topic filter after '$share/{ShareName}/'"
            }
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TopicError {}
