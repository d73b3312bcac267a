//! Topic names, topic filters and subscription matching (MQTT 5.0 §4.7, §4.8.2; 3.1.1 §4.7).
//!
//! A *topic name* is what a PUBLISH is sent to; a *topic filter* is what a SUBSCRIBE asks for.
//! Both are split into levels by `/`; adjacent separators make an empty level, and a leading or
//! trailing `/` makes a distinct topic (`/finance` is not `finance`). Filters may use two
//! wildcards, each of which must fill a whole level:
//!
//! - `+` matches exactly one level, including an empty one (`sport/+` matches `sport/` but not
//!   `sport`);
//! - `#` matches any number of levels, including none, so `sport/#` also matches its parent
//!   `sport`; it must be the last level.
//!
//! Names never contain wildcards. Names starting with `$` (such as `$SYS/...`) are reserved for
//! the server: a filter whose *first* level is a wildcard does not match them, so `#` does not
//! receive `$SYS` traffic while `$SYS/#` does. Matching compares levels byte for byte with no
//! normalisation ([MQTT-4.7.3-4] (both)).
//!
//! What lives here:
//!
//! - validation: [`validate_topic_name`], [`validate_topic_filter`] and [`parse_shared`] (the
//!   5.0 `$share/{ShareName}/{filter}` form), each failure a [`TopicError`];
//! - matching of one filter against one name without allocating: [`matches`](fn@matches),
//!   [`is_system_topic`];
//! - with `alloc`, `TopicTrie`: many filters matched against one name in one walk, which is what
//!   a broker needs on every PUBLISH; and `TopicTree`, the reverse: many names found by one
//!   filter, which is what it needs for retained messages on every SUBSCRIBE.
//!
//! The functions here are version-agnostic. The rules of 3.1.1 §4.7 and 5.0 §4.7 are the same
//! (only the statement ids differ, and each check names both). Shared subscriptions exist only in
//! 5.0, yet [`validate_topic_filter`] always applies the `$share/` rules, so a 3.1.1 server using
//! it also rejects the few filters that 3.1.1 would accept as plain ones (`$share//x`,
//! `$share/g`). Whether to use [`parse_shared`] at all is the caller's decision.
//!
//! The encoding rules of the string itself (well-formed UTF-8, no surrogates) belong to the codec;
//! a `&str` is already UTF-8. U+0000 is rejected here as well, because a topic containing it is
//! invalid whatever the codec did.

mod error;
mod matching;
#[cfg(test)]
mod proptests;
#[cfg(feature = "alloc")]
mod tree;
#[cfg(feature = "alloc")]
mod trie;
mod validate;
#[cfg(any(test, feature = "test-vectors"))]
pub mod vectors;

pub use error::TopicError;
pub use matching::{is_system_topic, matches};
#[cfg(feature = "alloc")]
pub use tree::TopicTree;
#[cfg(feature = "alloc")]
pub use trie::TopicTrie;
pub use validate::{
    parse_shared, validate_topic_filter, validate_topic_name, SharedSubscription, MAX_TOPIC_LEN,
    SHARE_PREFIX,
};
