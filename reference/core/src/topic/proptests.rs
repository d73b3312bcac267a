//! Property tests: the trie agrees with [`matches`](fn@super::matches) on random filters and names (also after
//! removals), and validation and matching return on any input without panicking.
//!
//! Levels come from a small alphabet so that random filters and names actually collide: literal
//! levels, an empty level, `$`-levels (for [MQTT-4.7.2-1] (both)), `+`, and a trailing `#`.

use super::*;
use proptest::prelude::*;
use std::string::String;

fn name_level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["a", "b", "", "$", "$SYS", "a$"][..])
}

fn filter_level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["a", "b", "", "$", "$SYS", "+", "+"][..])
}

/// A valid topic name of one to five levels (one empty level would be the empty string).
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_level(), 1..=5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("topic names are non-empty", |n| !n.is_empty())
}

/// A valid topic filter: up to five levels, optionally ending in `#`.
fn filter() -> impl Strategy<Value = String> {
    (prop::collection::vec(filter_level(), 0..=5), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.push("#");
            }
            levels.join("/")
        })
        .prop_filter("topic filters are non-empty", |f| !f.is_empty())
}

/// Any string, biased towards the characters the rules are about.
fn topicish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a$/+#\u{0}é]{0,16}",
        "\\$share/[a/+#]{0,3}/[a/+#]{0,6}",
    ]
}

proptest! {
    #[test]
    fn validation_never_panics_and_is_consistent(s in topicish(), other in topicish()) {
        let as_name = validate_topic_name(&s);
        let as_filter = validate_topic_filter(&s);
        let shared = parse_shared(&s);
        let _ = matches(&s, &other);
        let _ = matches(&other, &s);
        // A valid name is a valid filter (unless `$share/` gives it another meaning), and it
        // matches itself exactly.
        if as_name.is_ok() && !s.starts_with(SHARE_PREFIX) {
            prop_assert_eq!(as_filter, Ok(()));
            prop_assert!(matches(&s, &s));
        }
        // `parse_shared` and `validate_topic_filter` agree on shared filters.
        match shared {
            Ok(Some(sub)) => {
                prop_assert_eq!(as_filter, Ok(()));
                prop_assert!(validate_topic_filter(sub.filter).is_ok());
                prop_assert!(!sub.share_name.is_empty());
                prop_assert!(!sub.share_name.contains(['/', '+', '#']));
            }
            Ok(None) => prop_assert!(!s.starts_with(SHARE_PREFIX)),
            Err(e) => prop_assert_eq!(as_filter, Err(e)),
        }
        // The error cases never accept what the rules forbid.
        if as_name.is_ok() {
            prop_assert!(!s.is_empty() && s.len() <= MAX_TOPIC_LEN);
            prop_assert!(!s.contains(['+', '#', '\0']));
        }
    }

    #[test]
    fn generated_topics_are_valid(n in name(), f in filter()) {
        prop_assert_eq!(validate_topic_name(&n), Ok(()));
        prop_assert_eq!(validate_topic_filter(&f), Ok(()));
    }

    #[test]
    fn dollar_names_never_match_leading_wildcards(n in name(), f in filter()) {
        if n.starts_with('$') && f.starts_with(['+', '#']) {
            prop_assert!(!matches(&f, &n));
        }
    }
}

#[cfg(feature = "alloc")]
mod trie_props {
    use super::*;
    use std::vec::Vec;

    /// The multiset of (filter, value) the trie reports for `name`, sorted.
    fn trie_hits(trie: &TopicTrie<u8>, name: &str) -> Vec<(String, u8)> {
        let mut out = Vec::new();
        trie.matches(name, |f, v| out.push((String::from(f), *v)));
        out.sort();
        out
    }

    /// The same, computed with the single-pair matcher over a plain list.
    fn model_hits(model: &[(String, u8)], name: &str) -> Vec<(String, u8)> {
        let mut out: Vec<(String, u8)> = model
            .iter()
            .filter(|(f, _)| matches(f, name))
            .cloned()
            .collect();
        out.sort();
        out
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, u8),
        /// Remove one client's values from a filter.
        Remove(String, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (filter(), 0u8..3).prop_map(|(f, c)| Op::Insert(f, c)),
            2 => (filter(), 0u8..3).prop_map(|(f, c)| Op::Remove(f, c)),
        ]
    }

    proptest! {
        #[test]
        fn trie_agrees_with_matches(
            filters in prop::collection::vec((filter(), 0u8..4), 0..40),
            names in prop::collection::vec(name(), 1..10),
        ) {
            let mut trie = TopicTrie::new();
            for (f, v) in &filters {
                prop_assert_eq!(trie.insert(f, *v), Ok(()));
            }
            prop_assert_eq!(trie.len(), filters.len());
            for n in &names {
                prop_assert_eq!(trie_hits(&trie, n), model_hits(&filters, n), "name {:?}", n);
            }
        }

        #[test]
        fn trie_agrees_with_matches_after_removals(
            ops in prop::collection::vec(op(), 0..60),
            names in prop::collection::vec(name(), 1..8),
        ) {
            let mut trie = TopicTrie::new();
            let mut model: Vec<(String, u8)> = Vec::new();
            for op in &ops {
                match op {
                    Op::Insert(f, c) => {
                        prop_assert_eq!(trie.insert(f, *c), Ok(()));
                        model.push((f.clone(), *c));
                    }
                    Op::Remove(f, c) => {
                        let before = model.len();
                        model.retain(|(mf, mc)| !(mf == f && mc == c));
                        prop_assert_eq!(trie.remove(f, |v| v == c), before - model.len());
                    }
                }
                prop_assert_eq!(trie.len(), model.len());
                for n in &names {
                    prop_assert_eq!(trie_hits(&trie, n), model_hits(&model, n), "name {:?}", n);
                }
            }
            // Removing everything frees every node but the root.
            for (f, _) in model.clone() {
                trie.remove(&f, |_| true);
            }
            prop_assert!(trie.is_empty());
            prop_assert_eq!(trie.node_count(), 1);
        }

        #[test]
        fn trie_order_is_independent_of_insertion_order(
            filters in prop::collection::vec(filter(), 0..30),
            n in name(),
        ) {
            // Distinct filters with one value each: the callback order depends only on the set.
            let mut distinct = filters.clone();
            distinct.sort();
            distinct.dedup();
            let mut forward = TopicTrie::new();
            let mut backward = TopicTrie::new();
            for f in &distinct {
                forward.insert(f, 0u8).unwrap();
            }
            for f in distinct.iter().rev() {
                backward.insert(f, 0u8).unwrap();
            }
            let mut a = Vec::new();
            let mut b = Vec::new();
            forward.matches(&n, |f, _| a.push(String::from(f)));
            backward.matches(&n, |f, _| b.push(String::from(f)));
            prop_assert_eq!(a, b);
        }
    }
}

#[cfg(feature = "alloc")]
mod tree {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    fn tree_hits(tree: &TopicTree<u8>, filter: &str) -> Vec<(String, u8)> {
        let mut v = Vec::new();
        tree.matching(filter, |n, x| v.push((String::from(n), *x)));
        v.sort();
        v
    }

    fn model_hits(model: &BTreeMap<String, u8>, filter: &str) -> Vec<(String, u8)> {
        model
            .iter()
            .filter(|(n, _)| matches(filter, n))
            .map(|(n, v)| (n.clone(), *v))
            .collect()
    }

    proptest! {
        /// Inserts, replacements and removals in any order: every filter finds exactly the
        /// names `matches` accepts, each once; removing everything frees every node.
        #[test]
        fn tree_agrees_with_matches(
            ops in prop::collection::vec((name(), 0u8..4, any::<bool>()), 0..60),
            filters in prop::collection::vec(filter(), 1..10),
        ) {
            let mut tree = TopicTree::new();
            let mut model = BTreeMap::new();
            for (n, v, insert) in &ops {
                if *insert {
                    prop_assert_eq!(tree.insert(n, *v), model.insert(n.clone(), *v));
                } else {
                    prop_assert_eq!(tree.remove(n), model.remove(n));
                }
                prop_assert_eq!(tree.len(), model.len());
                prop_assert_eq!(tree.get(n), model.get(n));
            }
            for f in &filters {
                prop_assert_eq!(tree_hits(&tree, f), model_hits(&model, f), "filter {:?}", f);
            }
            let names: Vec<String> = model.keys().cloned().collect();
            for n in names {
                prop_assert!(tree.remove(&n).is_some());
            }
            prop_assert!(tree.is_empty());
            prop_assert_eq!(tree.nodes(), 0);
        }
    }

    /// Deep names neither overflow the stack on insert, lookup, removal or drop.
    #[test]
    fn deep_names_are_fine() {
        let deep = "a/".repeat(200_000) + "z";
        let mut tree = TopicTree::new();
        tree.insert(&deep, 1u8);
        tree.insert("a", 2);
        let mut n = 0;
        tree.matching("#", |_, _| n += 1);
        assert_eq!(n, 2);
        assert_eq!(tree.remove(&deep), Some(1));
        tree.insert(&deep, 3);
        drop(tree);
    }
}
