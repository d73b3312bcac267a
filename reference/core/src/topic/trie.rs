//! [`TopicTrie`]: match one topic name against many topic filters in one walk.
//!
//! A broker holds thousands of subscriptions and must find, for every PUBLISH, each one whose
//! filter matches the topic name. Looping over all filters with [`matches`](fn@super::matches) costs
//! time proportional to the number of filters; the trie stores the filters level by level, so a
//! lookup only visits the branches that can match: at each node the literal child equal to the
//! name's next level, the `+` child, and the `#` slot. The answer is, by construction and by
//! property test, the same set that the single-pair [`matches`](fn@super::matches) gives.
//!
//! Each filter holds a list of values, so one filter can carry many subscribers: a broker stores
//! (client id, subscription options) per filter and removes one client's entry with a predicate.
//! Iteration order is deterministic: children live in a `BTreeMap` (never a `HashMap`), so the
//! order depends only on the filters stored and, within a filter, on the order values were
//! inserted. The simulator relies on this to replay a run exactly.
//!
//! Filters can have up to 65,536 levels (65,535 `/`), so nothing here recurses per level: matching
//! uses an explicit stack, removal walks the path twice, and dropping tears the tree down with a
//! work list instead of the default recursive drop, which could overflow the stack.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::mem;

use super::validate::validate_plain_filter;
use super::{is_system_topic, TopicError};

/// Topic filters, each with a list of values, matched against topic names all at once.
///
/// `V` is whatever a filter carries; a broker would use something like
/// `(ClientId, SubscriptionOptions)` and keep one value per subscribing session.
///
/// # Shared subscriptions
/// The trie knows nothing of `$share/`. For a shared subscription, split the filter with
/// [`parse_shared`](super::parse_shared), insert the inner `filter`, and keep the `share_name` in
/// the value: the `$share/{ShareName}` part does not take part in matching (5.0 §4.8.2), and
/// choosing one session per group is the broker's decision. A `$share/g/x` string inserted as is
/// is an ordinary filter with the literal first level `$share`.
///
/// ```
/// use mqttref_core::topic::TopicTrie;
/// let mut trie = TopicTrie::new();
/// trie.insert("sport/+/player1", ("alice", 1)).unwrap();
/// trie.insert("sport/#", ("bob", 0)).unwrap();
/// trie.insert("sport/#", ("carol", 2)).unwrap();
/// let mut hits = Vec::new();
/// trie.matches("sport/tennis/player1", |filter, value| hits.push((filter.to_owned(), *value)));
/// hits.sort();
/// assert_eq!(hits.len(), 3);
/// // Bob unsubscribes from `sport/#`; Carol's subscription stays.
/// assert_eq!(trie.remove("sport/#", |(client, _)| *client == "bob"), 1);
/// assert_eq!(trie.len(), 2);
/// ```
pub struct TopicTrie<V> {
    /// The node for "no level consumed yet"; the only node where wildcards skip `$` names.
    root: Node<V>,
    /// Number of values stored, over all filters: what `len` reports without a walk.
    len: usize,
}

/// One level of the tree: the filters that continue past it, and those that end here.
struct Node<V> {
    /// Literal next levels (possibly empty strings), ordered so iteration is deterministic.
    children: BTreeMap<Box<str>, Node<V>>,
    /// The `+` next level, kept apart so a lookup never confuses it with a literal and costs no
    /// map search.
    plus: Option<Box<Node<V>>>,
    /// Filters whose next and last level is `#`. `#` ends a filter, so this is a leaf slot.
    hash: Option<Box<Entry<V>>>,
    /// Filters ending exactly at this node.
    entry: Option<Box<Entry<V>>>,
}

/// A stored filter: its text (handed to the callback) and its values in insertion order.
struct Entry<V> {
    filter: Box<str>,
    values: Vec<V>,
}

impl<V> Entry<V> {
    fn new(filter: &str) -> Box<Self> {
        Box::new(Entry {
            filter: filter.into(),
            values: Vec::new(),
        })
    }

    fn emit(&self, f: &mut impl FnMut(&str, &V)) {
        for value in &self.values {
            f(&self.filter, value);
        }
    }
}

impl<V> Node<V> {
    const fn new() -> Self {
        Node {
            children: BTreeMap::new(),
            plus: None,
            hash: None,
            entry: None,
        }
    }

    /// The child reached by a non-`#` filter level.
    fn child(&self, level: &str) -> Option<&Node<V>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<V>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    /// Number of outgoing edges to other nodes (the `#` slot is a leaf, not a node).
    fn edges(&self) -> usize {
        self.children.len() + usize::from(self.plus.is_some())
    }

    /// Moves the child nodes into `out`, so they are dropped from a loop rather than recursively.
    fn detach_children(&mut self, out: &mut Vec<Node<V>>) {
        if !self.children.is_empty() {
            out.extend(mem::take(&mut self.children).into_values());
        }
        if let Some(plus) = self.plus.take() {
            out.push(*plus);
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        // The default drop recurses once per level; a filter of 65,535 `/` would overflow the
        // stack. Each node popped here has no children left when its own drop runs.
        if self.edges() == 0 {
            return;
        }
        let mut work = Vec::new();
        self.detach_children(&mut work);
        while let Some(mut node) = work.pop() {
            node.detach_children(&mut work);
        }
    }
}

/// A valid filter split into the levels that lead to nodes and the slot it ends in.
struct Path<'a> {
    /// The levels before a final `#`, or all levels; `None` when the filter is `#` alone (zero
    /// levels, which is not the same as `Some("")`, one empty level).
    levels: Option<&'a str>,
    /// Whether the filter ends in `#` (stored in the `hash` slot rather than `entry`).
    hash: bool,
}

impl<'a> Path<'a> {
    fn of(filter: &'a str) -> Self {
        if filter == "#" {
            Path {
                levels: None,
                hash: true,
            }
        } else if let Some(levels) = filter.strip_suffix("/#") {
            Path {
                levels: Some(levels),
                hash: true,
            }
        } else {
            Path {
                levels: Some(filter),
                hash: false,
            }
        }
    }

    fn levels(&self) -> impl Iterator<Item = &'a str> {
        self.levels.into_iter().flat_map(|l| l.split('/'))
    }
}

impl<V> TopicTrie<V> {
    /// An empty trie.
    #[must_use]
    pub const fn new() -> Self {
        TopicTrie {
            root: Node::new(),
            len: 0,
        }
    }

    /// Number of values stored, counting every value of every filter.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `value` to the values of `filter`, after the ones already there.
    ///
    /// Values are not deduplicated: a broker replacing a session's subscription
    /// ([MQTT-3.8.4-3] (both)) first [`remove`](Self::remove)s that session's value, whose count also
    /// tells it whether the subscription existed (Retain Handling 1), then inserts the new one.
    ///
    /// # Errors
    /// The filter is checked like [`validate_topic_filter`](super::validate_topic_filter) except
    /// that `$share/` gets no special treatment (insert the inner filter of a shared
    /// subscription); an invalid filter is not inserted and its [`TopicError`] is returned.
    pub fn insert(&mut self, filter: &str, value: V) -> Result<(), TopicError> {
        validate_plain_filter(filter)?;
        let path = Path::of(filter);
        let mut node = &mut self.root;
        for level in path.levels() {
            node = if level == "+" {
                node.plus.get_or_insert_with(|| Box::new(Node::new()))
            } else {
                node.children.entry(level.into()).or_insert_with(Node::new)
            };
        }
        let slot = if path.hash {
            &mut node.hash
        } else {
            &mut node.entry
        };
        slot.get_or_insert_with(|| Entry::new(filter))
            .values
            .push(value);
        self.len += 1;
        Ok(())
    }

    /// Removes the values of `filter` for which `pred` returns `true`, keeping the others in
    /// order, and returns how many were removed. A filter left without values is forgotten and
    /// the branches only it used are freed. An unknown or invalid filter removes nothing.
    pub fn remove(&mut self, filter: &str, mut pred: impl FnMut(&V) -> bool) -> usize {
        let path = Path::of(filter);
        let Some(slot) = self.slot_mut(&path) else {
            return 0;
        };
        let Some(entry) = slot.as_mut() else {
            return 0;
        };
        let before = entry.values.len();
        entry.values.retain(|v| !pred(v));
        let removed = before - entry.values.len();
        if entry.values.is_empty() {
            *slot = None;
            self.prune(&path);
        }
        self.len -= removed;
        removed
    }

    /// Calls `f(filter, value)` for every value of every stored filter that matches `name`.
    ///
    /// The set is exactly the filters `f` for which [`matches(f, name)`](fn@super::matches) holds,
    /// including [MQTT-4.7.2-1] (5.0 and 3.1.1): wildcards at the first level skip names starting
    /// with `$`. The order is deterministic. `name` is not validated; a name containing wildcard
    /// characters is matched literally.
    pub fn matches(&self, name: &str, mut f: impl FnMut(&str, &V)) {
        let system = is_system_topic(name);
        // (node, the part of the name not yet consumed, whether node is the root). `None` means
        // every level was consumed, `Some("")` that one empty level is left.
        let mut stack: Vec<(&Node<V>, Option<&str>, bool)> = Vec::with_capacity(8);
        stack.push((&self.root, Some(name), true));
        while let Some((node, rest, at_root)) = stack.pop() {
            // [MQTT-4.7.2-1] (5.0 and 3.1.1): a first-level `#` or `+` does not match `$...`.
            let wildcards = !(at_root && system);
            // `#` matches whatever is left, including nothing: `sport/#` matches `sport`.
            if wildcards {
                if let Some(entry) = &node.hash {
                    entry.emit(&mut f);
                }
            }
            let Some(rest) = rest else {
                if let Some(entry) = &node.entry {
                    entry.emit(&mut f);
                }
                continue;
            };
            let (level, after) = match rest.split_once('/') {
                Some((level, after)) => (level, Some(after)),
                None => (rest, None),
            };
            // `+` takes exactly one level, which may be empty.
            if wildcards {
                if let Some(plus) = &node.plus {
                    stack.push((plus, after, false));
                }
            }
            // [MQTT-4.7.3-4] (5.0 and 3.1.1): literal levels compare as bytes, no normalisation.
            if let Some(child) = node.children.get(level) {
                stack.push((child, after, false));
            }
        }
    }

    /// The slot (`entry` or `hash`) a filter ends in, if its path exists.
    fn slot_mut(&mut self, path: &Path<'_>) -> Option<&mut Option<Box<Entry<V>>>> {
        let mut node = &mut self.root;
        for level in path.levels() {
            node = node.child_mut(level)?;
        }
        Some(if path.hash {
            &mut node.hash
        } else {
            &mut node.entry
        })
    }

    /// After the slot at the end of `path` was emptied, frees the nodes that no longer lead to
    /// any filter: the tail of the path below the deepest node that still holds something else.
    fn prune(&mut self, path: &Path<'_>) {
        // First walk, read-only: find the deepest node on the path that stays, `keep`.
        let mut node = &self.root;
        let mut keep = 0;
        let mut depth = 0;
        for level in path.levels() {
            if node.entry.is_some() || node.hash.is_some() || node.edges() > 1 {
                keep = depth;
            }
            match node.child(level) {
                Some(child) => node = child,
                None => return,
            }
            depth += 1;
        }
        let last_is_empty = node.entry.is_none() && node.hash.is_none() && node.edges() == 0;
        if depth == 0 || !last_is_empty {
            return;
        }
        // Second walk: cut the edge below `keep`; dropping it frees the dead tail.
        let mut node = &mut self.root;
        let mut levels = path.levels();
        for level in levels.by_ref().take(keep) {
            match node.child_mut(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if let Some(level) = levels.next() {
            if level == "+" {
                node.plus = None;
            } else {
                node.children.remove(level);
            }
        }
    }

    /// Number of nodes, for tests that check removal frees what it should.
    #[cfg(test)]
    pub(super) fn node_count(&self) -> usize {
        let mut count = 0;
        let mut work = alloc::vec![&self.root];
        while let Some(node) = work.pop() {
            count += 1;
            work.extend(node.children.values());
            work.extend(node.plus.as_deref());
        }
        count
    }
}

impl<V> Default for TopicTrie<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> fmt::Debug for TopicTrie<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the tree: printing it would recurse per level, and a broker's trie is large.
        f.debug_struct("TopicTrie")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};

    fn hits<V: Clone>(trie: &TopicTrie<V>, name: &str) -> Vec<(String, V)> {
        let mut out = Vec::new();
        trie.matches(name, |filter, v| out.push((filter.to_string(), v.clone())));
        out
    }

    fn filters(trie: &TopicTrie<u32>, name: &str) -> Vec<String> {
        let mut out: Vec<String> = hits(trie, name).into_iter().map(|(f, _)| f).collect();
        out.sort();
        out
    }

    const SPEC_FILTERS: &[&str] = &[
        "sport/tennis/player1/#",
        "sport/#",
        "#",
        "sport/tennis/+",
        "sport/+",
        "+",
        "+/+",
        "/+",
        "+/tennis/#",
        "sport/+/player1",
        "$SYS/#",
        "$SYS/monitor/+",
        "+/monitor/Clients",
        "/finance",
        "finance",
        "ACCOUNTS",
    ];

    fn spec_trie() -> TopicTrie<u32> {
        let mut trie = TopicTrie::new();
        for (i, filter) in SPEC_FILTERS.iter().enumerate() {
            trie.insert(filter, i as u32).unwrap();
        }
        trie
    }

    #[test]
    fn spec_examples_agree_with_matches() {
        let trie = spec_trie();
        for name in [
            "sport",
            "sport/",
            "sport/tennis",
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
            "sport/tennis/player2",
            "/finance",
            "finance",
            "/",
            "$SYS",
            "$SYS/monitor/Clients",
            "$SYS/x",
            "x/monitor/Clients",
            "Accounts",
            "",
        ] {
            let mut expected: Vec<String> = SPEC_FILTERS
                .iter()
                .filter(|f| crate::topic::matches(f, name))
                .map(|f| f.to_string())
                .collect();
            expected.sort();
            assert_eq!(filters(&trie, name), expected, "name {name:?}");
        }
    }

    #[test]
    fn spec_examples_explicit() {
        let trie = spec_trie();
        assert_eq!(
            filters(&trie, "sport/tennis/player1"),
            [
                "#",
                "+/tennis/#",
                "sport/#",
                "sport/+/player1",
                "sport/tennis/+",
                "sport/tennis/player1/#"
            ]
        );
        assert_eq!(filters(&trie, "sport"), ["#", "+", "sport/#"]);
        assert_eq!(filters(&trie, "sport/"), ["#", "+/+", "sport/#", "sport/+"]);
        assert_eq!(filters(&trie, "/finance"), ["#", "+/+", "/+", "/finance"]);
        // [MQTT-4.7.2-1] (both): neither `#`, `+` nor `+/monitor/Clients` see `$SYS` topics.
        assert_eq!(
            filters(&trie, "$SYS/monitor/Clients"),
            ["$SYS/#", "$SYS/monitor/+"]
        );
        assert_eq!(filters(&trie, "$SYS"), ["$SYS/#"]);
    }

    #[test]
    fn values_per_filter_in_insertion_order() {
        let mut trie = TopicTrie::new();
        trie.insert("a/+", ("c3", 0)).unwrap();
        trie.insert("a/+", ("c1", 1)).unwrap();
        trie.insert("a/+", ("c2", 2)).unwrap();
        assert_eq!(trie.len(), 3);
        let got: Vec<_> = hits(&trie, "a/b").into_iter().map(|(_, v)| v.0).collect();
        assert_eq!(got, ["c3", "c1", "c2"]);
        // Remove one client's entry; the others keep their order.
        assert_eq!(trie.remove("a/+", |v| v.0 == "c1"), 1);
        let got: Vec<_> = hits(&trie, "a/b").into_iter().map(|(_, v)| v.0).collect();
        assert_eq!(got, ["c3", "c2"]);
        assert_eq!(trie.remove("a/+", |v| v.0 == "c1"), 0);
        assert_eq!(trie.len(), 2);
        assert_eq!(trie.remove("a/+", |_| true), 2);
        assert!(trie.is_empty());
        assert_eq!(trie.node_count(), 1);
        assert!(hits(&trie, "a/b").is_empty());
    }

    #[test]
    fn order_is_deterministic_regardless_of_insertion_order() {
        let mut one = TopicTrie::new();
        let mut two = TopicTrie::new();
        for f in SPEC_FILTERS {
            one.insert(f, 0u32).unwrap();
        }
        for f in SPEC_FILTERS.iter().rev() {
            two.insert(f, 0u32).unwrap();
        }
        for name in ["sport/tennis/player1", "/finance", "$SYS/monitor/Clients"] {
            assert_eq!(hits(&one, name), hits(&two, name));
        }
    }

    #[test]
    fn invalid_filters_are_rejected() {
        let mut trie = TopicTrie::new();
        assert_eq!(trie.insert("", 0), Err(TopicError::Empty));
        assert_eq!(trie.insert("sport#", 0), Err(TopicError::WildcardNotAlone));
        assert_eq!(
            trie.insert("a/#/b", 0),
            Err(TopicError::MultiLevelWildcardNotLast)
        );
        assert_eq!(trie.insert("a\0", 0), Err(TopicError::ContainsNull));
        assert!(trie.is_empty());
        assert_eq!(trie.node_count(), 1);
        assert_eq!(trie.remove("a/#/b", |_| true), 0);
        assert_eq!(trie.remove("sport#", |_| true), 0);
        assert_eq!(trie.remove("", |_| true), 0);
    }

    #[test]
    fn shared_filters_are_literal() {
        // `$share/` has no meaning in the trie: `$share//x` (an invalid shared filter) is a
        // plain filter here, and the caller is expected to insert inner filters.
        let mut trie = TopicTrie::new();
        trie.insert("$share//x", 1).unwrap();
        trie.insert("$share/g/sport/#", 2).unwrap();
        assert_eq!(filters(&trie, "sport/tennis"), Vec::<String>::new());
        assert_eq!(filters(&trie, "$share/g/sport"), ["$share/g/sport/#"]);
        assert_eq!(filters(&trie, "$share//x"), ["$share//x"]);
    }

    #[test]
    fn removal_prunes_only_dead_branches() {
        let mut trie = TopicTrie::new();
        trie.insert("a/b/c/d", 1).unwrap();
        trie.insert("a/b", 2).unwrap();
        trie.insert("a/+/#", 3).unwrap();
        trie.insert("#", 4).unwrap();
        trie.insert("/#", 5).unwrap();
        // Nodes: root, a, a/b, a/b/c, a/b/c/d, a/+, "" (for /#).
        assert_eq!(trie.node_count(), 7);
        assert_eq!(trie.remove("a/b/c/d", |_| true), 1);
        assert_eq!(trie.node_count(), 5);
        assert_eq!(filters(&trie, "a/b"), ["#", "a/+/#", "a/b"]);
        assert_eq!(trie.remove("a/+/#", |_| true), 1);
        assert_eq!(trie.node_count(), 4);
        assert_eq!(trie.remove("#", |_| true), 1);
        assert_eq!(trie.node_count(), 4);
        assert_eq!(filters(&trie, "a/b"), ["a/b"]);
        assert_eq!(trie.remove("/#", |_| true), 1);
        assert_eq!(trie.node_count(), 3);
        assert_eq!(trie.remove("a/b", |_| true), 1);
        assert_eq!(trie.node_count(), 1);
        assert!(trie.is_empty());
        // Removing what is not there changes nothing.
        assert_eq!(trie.remove("a/b", |_| true), 0);
        assert_eq!(trie.remove("#", |_| true), 0);
    }

    #[test]
    fn hash_and_entry_at_same_node() {
        let mut trie = TopicTrie::new();
        trie.insert("a", 1).unwrap();
        trie.insert("a/#", 2).unwrap();
        assert_eq!(filters(&trie, "a"), ["a", "a/#"]);
        assert_eq!(trie.remove("a", |_| true), 1);
        assert_eq!(filters(&trie, "a"), ["a/#"]);
        assert_eq!(trie.node_count(), 2);
        assert_eq!(trie.remove("a/#", |_| true), 1);
        assert_eq!(trie.node_count(), 1);
    }

    #[test]
    fn deepest_filter_does_not_overflow_the_stack() {
        // 65,535 `/`: 65,536 empty levels, the deepest valid filter. Run on a thread with a small
        // stack so recursion per level would fail here rather than somewhere else.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let deep = "/".repeat(crate::topic::MAX_TOPIC_LEN);
                let mut trie = TopicTrie::new();
                trie.insert(&deep, 1).unwrap();
                let deep_hash = "/".repeat(crate::topic::MAX_TOPIC_LEN - 1) + "#";
                trie.insert(&deep_hash, 2).unwrap();
                trie.insert(&"+/".repeat(20_000), 3).unwrap();
                assert_eq!(hits(&trie, &deep).len(), 2);
                assert_eq!(trie.remove(&deep, |_| true), 1);
                assert_eq!(hits(&trie, &deep).len(), 1);
                drop(trie);
                // Dropping a deep trie without removing first.
                let mut trie = TopicTrie::new();
                trie.insert(&deep, 1).unwrap();
                drop(trie);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn debug_is_shallow() {
        let trie = spec_trie();
        let text = std::format!("{trie:?}");
        assert_eq!(text, "TopicTrie { len: 16, .. }");
    }
}
