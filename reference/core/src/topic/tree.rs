//! [`TopicTree`]: many topic names, each with a value, found by one topic filter in one walk —
//! the reverse of [`TopicTrie`](super::TopicTrie). A broker needs it for retained messages:
//! a SUBSCRIBE must find every retained topic its filter matches, and scanning all of them per
//! filter let one client with 1,000 filters over 100,000 retained messages hold the broker for
//! seconds.
//!
//! Names are stored level by level; a lookup visits only what the filter can reach: the literal
//! child at a literal level, every child at `+`, the whole subtree at `#` (which also matches the
//! parent level: `sport/#` finds `sport`). At the first level a wildcard skips names starting
//! with `$` ([MQTT-4.7.2-1] (both)). The answer is, by property test, the set
//! [`matches`](fn@super::matches) gives.
//!
//! Order is deterministic (children in a `BTreeMap`, visited in key order, depth first), and
//! nothing recurses per level: topic names can have hundreds of thousands of levels.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::mem;

/// Topic names with a value each, looked up by topic filter.
///
/// ```
/// use mqttref_core::topic::TopicTree;
/// let mut tree = TopicTree::new();
/// tree.insert("sport/tennis", 1);
/// tree.insert("sport", 2);
/// tree.insert("$SYS/uptime", 3);
/// let mut hits = Vec::new();
/// tree.matching("sport/#", |name, v| hits.push((name.to_owned(), *v)));
/// assert_eq!(hits, [("sport".to_owned(), 2), ("sport/tennis".to_owned(), 1)]);
/// hits.clear();
/// tree.matching("#", |name, v| hits.push((name.to_owned(), *v)));
/// assert_eq!(hits.len(), 2); // not $SYS/uptime
/// ```
pub struct TopicTree<V> {
    root: Node<V>,
    len: usize,
}

struct Node<V> {
    children: BTreeMap<Box<str>, Node<V>>,
    /// The name ending at this node, and its value.
    value: Option<(Box<str>, V)>,
}

impl<V> Node<V> {
    const fn new() -> Self {
        Node {
            children: BTreeMap::new(),
            value: None,
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        // Iterative: the default drop recurses once per level.
        if self.children.is_empty() {
            return;
        }
        let mut work: Vec<Node<V>> = mem::take(&mut self.children).into_values().collect();
        while let Some(mut n) = work.pop() {
            work.extend(mem::take(&mut n.children).into_values());
        }
    }
}

impl<V> Default for TopicTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> core::fmt::Debug for TopicTree<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TopicTree").field("len", &self.len).finish()
    }
}

impl<V> TopicTree<V> {
    /// An empty tree.
    #[must_use]
    pub const fn new() -> Self {
        TopicTree {
            root: Node::new(),
            len: 0,
        }
    }

    /// Number of names stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no name is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` under the topic name `name`, returning the value it replaces.
    pub fn insert(&mut self, name: &str, value: V) -> Option<V> {
        let mut node = &mut self.root;
        for level in name.split('/') {
            node = node.children.entry(level.into()).or_insert_with(Node::new);
        }
        let old = node.value.replace((name.into(), value)).map(|(_, v)| v);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value stored under `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&V> {
        let mut node = &self.root;
        for level in name.split('/') {
            node = node.children.get(level)?;
        }
        node.value.as_ref().map(|(_, v)| v)
    }

    /// Removes `name`, returning its value; nodes left empty are freed.
    pub fn remove(&mut self, name: &str) -> Option<V> {
        // First walk: find the deepest node on the path that must stay (it has a value or
        // another child), so the branch below it can be cut off in one piece.
        let mut node = &self.root;
        let mut keep_depth = 0;
        let levels: Vec<&str> = name.split('/').collect();
        for (depth, level) in levels.iter().enumerate() {
            if depth > 0 && (node.value.is_some() || node.children.len() > 1) {
                keep_depth = depth;
            }
            node = node.children.get(*level)?;
        }
        node.value.as_ref()?;
        let prune = node.children.is_empty();
        // Second walk: take the value, and cut the branch if nothing else hangs from it.
        let mut node = &mut self.root;
        let mut cut = None;
        for (depth, level) in levels.iter().enumerate() {
            if prune && depth == keep_depth {
                cut = node.children.remove(*level);
                break;
            }
            node = node.children.get_mut(*level)?;
        }
        let value = match cut {
            Some(mut branch) => {
                let mut n = &mut branch;
                for level in &levels[keep_depth + 1..] {
                    n = n.children.get_mut(*level)?;
                }
                n.value.take()
            }
            None => node.value.take(),
        };
        let value = value.map(|(_, v)| v);
        if value.is_some() {
            self.len -= 1;
        }
        value
    }

    /// Calls `f` with every stored name the topic filter `filter` matches, and its value, in
    /// name order level by level. `filter` must be a valid topic filter (without `$share/`).
    pub fn matching(&self, filter: &str, mut f: impl FnMut(&str, &V)) {
        let levels: Vec<&str> = filter.split('/').collect();
        // (node, index of the next filter level to match at it)
        let mut stack: Vec<(&Node<V>, usize)> = alloc::vec![(&self.root, 0)];
        let mut subtree: Vec<&Node<V>> = Vec::new();
        while let Some((node, i)) = stack.pop() {
            let at_root = core::ptr::eq(node, &self.root);
            let Some(level) = levels.get(i) else {
                if let Some((name, v)) = &node.value {
                    f(name, v);
                }
                continue;
            };
            match *level {
                "#" => {
                    // This level and everything below (5.0 and 3.1.1 §4.7.1.2: `#` matches the parent too).
                    if let Some((name, v)) = &node.value {
                        f(name, v);
                    }
                    subtree.extend(
                        node.children
                            .iter()
                            .rev()
                            .filter(|(k, _)| !(at_root && k.starts_with('$')))
                            .map(|(_, c)| c),
                    );
                    while let Some(n) = subtree.pop() {
                        if let Some((name, v)) = &n.value {
                            f(name, v);
                        }
                        subtree.extend(n.children.values().rev());
                    }
                }
                "+" => stack.extend(
                    node.children
                        .iter()
                        .rev()
                        .filter(|(k, _)| !(at_root && k.starts_with('$')))
                        .map(|(_, c)| (c, i + 1)),
                ),
                literal => {
                    if let Some(c) = node.children.get(literal) {
                        stack.push((c, i + 1));
                    }
                }
            }
        }
    }

    /// Number of nodes below the root (tests: removal frees what it no longer needs).
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> usize {
        let mut n = 0;
        let mut work = alloc::vec![&self.root];
        while let Some(x) = work.pop() {
            n += x.children.len();
            work.extend(x.children.values());
        }
        n
    }

    /// Calls `f` with every name and value, in order.
    pub fn for_each(&self, mut f: impl FnMut(&str, &V)) {
        let mut work = alloc::vec![&self.root];
        while let Some(n) = work.pop() {
            if let Some((name, v)) = &n.value {
                f(name, v);
            }
            work.extend(n.children.values().rev());
        }
    }
}
