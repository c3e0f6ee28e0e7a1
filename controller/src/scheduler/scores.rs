//! Scores: of the nodes a pod fits on, which is best? Each score runs
//! from 0 to [`MAX_SCORE`]; the weighted sum decides.

use super::demand::PodDemand;
use super::node_info::{NodeFacts, Usage};

pub const MAX_SCORE: i64 = 100;
/// kube-scheduler weighs `NodeResourcesFit` (least allocated) 1 ...
pub const LEAST_ALLOCATED_WEIGHT: i64 = 1;
/// ... and spreading a controller's pods 2.
pub const SPREAD_WEIGHT: i64 = 2;

fn free_fraction(capacity: i64, requested: i64) -> i64 {
    if capacity <= 0 {
        return 0;
    }
    (capacity - requested).max(0) * MAX_SCORE / capacity
}

/// The share of cpu and memory left free once the pod is placed,
/// averaged: emptier nodes score higher. Counts requests with defaults for
/// containers that state none, so pods without requests spread too.
pub fn least_allocated(demand: &PodDemand, facts: &NodeFacts, usage: &Usage) -> i64 {
    let cpu = free_fraction(
        facts.cpu_milli,
        usage.nonzero_cpu_milli + demand.nonzero_cpu_milli,
    );
    let memory = free_fraction(facts.memory, usage.nonzero_memory + demand.nonzero_memory);
    (cpu + memory) / 2
}

/// Fewer pods of the same controller is better: `count` pods of it on this
/// node, `max_count` on the busiest node considered.
pub fn spread(count: u32, max_count: u32) -> i64 {
    if max_count == 0 {
        return MAX_SCORE;
    }
    i64::from(max_count - count.min(max_count)) * MAX_SCORE / i64::from(max_count)
}

/// The weighted sum that picks the node.
pub fn total(least_allocated: i64, spread: i64) -> i64 {
    least_allocated * LEAST_ALLOCATED_WEIGHT + spread * SPREAD_WEIGHT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptier_nodes_score_higher() {
        let facts = NodeFacts {
            cpu_milli: 4000,
            memory: 8 << 30,
            pods: 110,
            ..Default::default()
        };
        let pod = PodDemand {
            nonzero_cpu_milli: 1000,
            nonzero_memory: 2 << 30,
            ..Default::default()
        };
        let empty = Usage::default();
        assert_eq!(least_allocated(&pod, &facts, &empty), 75);
        let busy = Usage {
            nonzero_cpu_milli: 2000,
            nonzero_memory: 4 << 30,
            ..Default::default()
        };
        assert_eq!(least_allocated(&pod, &facts, &busy), 25);
        let overfull = Usage {
            nonzero_cpu_milli: 8000,
            ..Default::default()
        };
        assert_eq!(least_allocated(&pod, &facts, &overfull), 37);
    }

    #[test]
    fn spreading_prefers_nodes_with_fewer_siblings() {
        assert_eq!(spread(0, 0), 100);
        assert_eq!(spread(0, 2), 100);
        assert_eq!(spread(1, 2), 50);
        assert_eq!(spread(2, 2), 0);
        assert!(total(90, spread(1, 1)) < total(80, spread(0, 1)));
    }
}
