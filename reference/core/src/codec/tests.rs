//! Cross-packet tests: framing, malformed-input rules, property rules, round trips.
