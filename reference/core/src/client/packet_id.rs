//! Packet Identifier allocation for the client's outgoing PUBLISH, SUBSCRIBE and UNSUBSCRIBE.
//!
//! [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-2] (3.1.1): each new packet that needs an identifier gets
//! one that is not in use. An identifier stays in use until its flow completes (PUBACK, PUBCOMP,
//! PUBREC with an error code, SUBACK, UNSUBACK), across reconnects while the session lasts, and
//! is only then free for reuse ([MQTT-2.2.1-4] (5.0)). Identifiers are handed out round-robin, so
//! a just-freed one is the last to be reused: a late duplicate acknowledgement from an old flow
//! is then unlikely to meet a new flow with the same identifier.

use alloc::collections::BTreeSet;

/// The identifiers in use and where the round-robin search resumes.
#[derive(Debug, Clone)]
pub(crate) struct PacketIds {
    /// Identifiers currently in use.
    in_use: BTreeSet<u16>,
    /// The next identifier to try; never 0.
    next: u16,
}

impl Default for PacketIds {
    fn default() -> Self {
        PacketIds {
            in_use: BTreeSet::new(),
            next: 1,
        }
    }
}

impl PacketIds {
    /// A free identifier, now marked in use; `None` when all 65,535 are in use.
    pub(crate) fn allocate(&mut self) -> Option<u16> {
        if self.in_use.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if self.in_use.insert(id) {
                return Some(id);
            }
        }
    }

    /// Marks `id` free again.
    pub(crate) fn release(&mut self, id: u16) {
        self.in_use.remove(&id);
    }

    /// Whether `id` is in use.
    #[cfg(test)]
    pub(crate) fn contains(&self, id: u16) -> bool {
        self.in_use.contains(&id)
    }

    /// Number of identifiers in use.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::PacketIds;

    #[test]
    fn never_zero_never_reused_while_in_use() {
        let mut ids = PacketIds::default();
        let a = ids.allocate();
        assert_eq!(a, Some(1));
        // Exhaust the space: every identifier handed out is distinct and non-zero.
        for _ in 1..u16::MAX {
            let id = ids.allocate().expect("space left");
            assert_ne!(id, 0);
        }
        assert_eq!(ids.len(), usize::from(u16::MAX));
        assert_eq!(ids.allocate(), None, "all 65,535 in use");
        ids.release(40_000);
        assert_eq!(ids.allocate(), Some(40_000), "only the freed one");
        assert!(ids.contains(40_000));
    }

    #[test]
    fn round_robin_skips_in_use() {
        let mut ids = PacketIds::default();
        let one = ids.allocate();
        let two = ids.allocate();
        assert_eq!((one, two), (Some(1), Some(2)));
        ids.release(1);
        // 1 is free but the search goes on from 3.
        assert_eq!(ids.allocate(), Some(3));
    }
}
