//! One scheduling decision, a pure function of the pod and the node table:
//! walk the nodes from a rotating offset, keep those that pass every
//! filter until enough are found (like kube-scheduler's
//! `percentageOfNodesToScore`), score them, pick the best (ties at random).

use std::collections::HashMap;

use rand::Rng;

use super::demand::PodDemand;
use super::filters::{PodTerms, Reason, check};
use super::node_info::NodeTable;
use super::scores;

/// Below this many nodes every node is considered.
pub const MIN_FEASIBLE_NODES: usize = 100;
/// In larger clusters, stop once this share of the nodes fits the pod.
pub const PERCENTAGE_OF_NODES_TO_SCORE: usize = 5;

/// How many fitting nodes are enough out of `total`.
pub fn feasible_nodes_to_find(total: usize) -> usize {
    if total <= MIN_FEASIBLE_NODES {
        return total;
    }
    (total * PERCENTAGE_OF_NODES_TO_SCORE / 100).max(MIN_FEASIBLE_NODES)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind the pod to this node.
    Node(String),
    /// No node fits; why, as kube-scheduler words it.
    Unschedulable(String),
}

/// The decision and how many slots were walked (the caller starts the
/// next walk that much further on, so work spreads over every node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    pub examined: usize,
}

/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.`
pub fn failure_message(nodes: usize, reasons: &HashMap<Reason<'_>, usize>) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    // kube-scheduler sorts the "count reason" strings as they are.
    parts.sort();
    if parts.is_empty() {
        return format!("0/{nodes} nodes are available.");
    }
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

/// Decides where the pod goes, walking `nodes` from slot `start`.
pub fn decide(
    terms: PodTerms<'_>,
    demand: &PodDemand,
    nodes: &NodeTable,
    start: usize,
    rng: &mut impl Rng,
) -> Outcome {
    let slots = nodes.slots();
    let want = feasible_nodes_to_find(nodes.node_count());
    let mut feasible: Vec<usize> = Vec::with_capacity(want.min(slots.len()));
    let mut histogram: HashMap<Reason<'_>, usize> = HashMap::new();
    let mut reasons = Vec::new();
    let mut examined = 0;
    for step in 0..slots.len() {
        if feasible.len() >= want {
            break;
        }
        examined = step + 1;
        let i = (start + step) % slots.len();
        let slot = &slots[i];
        if slot.facts.is_none() {
            continue;
        }
        reasons.clear();
        check(terms, demand, slot, &mut reasons);
        if reasons.is_empty() {
            feasible.push(i);
        } else {
            for r in &reasons {
                *histogram.entry(*r).or_default() += 1;
            }
        }
    }
    if feasible.is_empty() {
        return Outcome {
            decision: Decision::Unschedulable(failure_message(nodes.node_count(), &histogram)),
            examined,
        };
    }
    let chosen = if feasible.len() == 1 {
        feasible[0]
    } else {
        best(demand, nodes, &feasible, rng)
    };
    Outcome {
        decision: Decision::Node(slots[chosen].name.clone()),
        examined,
    }
}

/// The highest-scoring of `feasible` (slot indexes), a tie settled at
/// random so equal nodes share the load.
fn best(demand: &PodDemand, nodes: &NodeTable, feasible: &[usize], rng: &mut impl Rng) -> usize {
    let slots = nodes.slots();
    let siblings = |i: usize| {
        demand
            .owner
            .as_deref()
            .map_or(0, |o| slots[i].usage.pods_of(o))
    };
    let max_siblings = feasible.iter().map(|&i| siblings(i)).max().unwrap_or(0);
    let mut best_score = i64::MIN;
    let mut chosen = feasible[0];
    let mut ties = 0u32;
    for &i in feasible {
        let slot = &slots[i];
        let Some(facts) = &slot.facts else { continue };
        let score = scores::total(
            scores::least_allocated(demand, facts, &slot.usage),
            scores::spread(siblings(i), max_siblings),
        );
        if score > best_score {
            best_score = score;
            chosen = i;
            ties = 1;
        } else if score == best_score {
            // Reservoir sampling: each of the tied nodes ends up equally likely.
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                chosen = i;
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::scheduler::node_info::NodeFacts;

    fn facts(cpu_milli: i64) -> NodeFacts {
        NodeFacts {
            cpu_milli,
            memory: 8 << 30,
            pods: 110,
            ..Default::default()
        }
    }

    fn table(n: usize, cpu_milli: i64) -> NodeTable {
        let mut t = NodeTable::new();
        for i in 0..n {
            t.set_node(&format!("node-{i:04}"), facts(cpu_milli));
        }
        t
    }

    fn demand(cpu_milli: i64, owner: Option<&str>) -> PodDemand {
        PodDemand {
            cpu_milli,
            nonzero_cpu_milli: cpu_milli.max(100),
            nonzero_memory: 200 << 20,
            owner: owner.map(str::to_string),
            ..Default::default()
        }
    }

    const NO_SELECTOR: &BTreeMap<String, String> = &BTreeMap::new();

    fn terms() -> PodTerms<'static> {
        PodTerms {
            node_selector: NO_SELECTOR,
            affinity: None,
            tolerations: &[],
        }
    }

    #[test]
    fn how_many_nodes_are_enough() {
        assert_eq!(feasible_nodes_to_find(3), 3);
        assert_eq!(feasible_nodes_to_find(100), 100);
        assert_eq!(feasible_nodes_to_find(1000), 100);
        assert_eq!(feasible_nodes_to_find(5000), 250);
    }

    #[test]
    fn a_pod_too_big_for_every_node_gets_kube_schedulers_message() {
        let mut t = table(2, 1000);
        let mut cordoned = facts(8000);
        cordoned.unschedulable = true;
        t.set_node("cordoned", cordoned);
        let mut rng = StdRng::seed_from_u64(1);
        let out = decide(terms(), &demand(2000, None), &t, 0, &mut rng);
        assert_eq!(
            out.decision,
            Decision::Unschedulable(
                "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.".into()
            )
        );
        assert_eq!(out.examined, 3);
        let empty = NodeTable::new();
        let out = decide(terms(), &demand(1, None), &empty, 0, &mut rng);
        assert_eq!(
            out.decision,
            Decision::Unschedulable("no nodes available to schedule pods".into())
        );
    }

    #[test]
    fn the_emptier_node_wins_and_siblings_spread() {
        let mut t = table(2, 4000);
        t.add_pod("node-0000", &demand(2000, None));
        let mut rng = StdRng::seed_from_u64(7);
        let out = decide(terms(), &demand(500, None), &t, 0, &mut rng);
        assert_eq!(out.decision, Decision::Node("node-0001".into()));

        // Three equal nodes, six pods of one owner placed one after another.
        let mut t = table(3, 4000);
        let pod = demand(0, Some("rs-1"));
        for _ in 0..6 {
            match decide(terms(), &pod, &t, 0, &mut rng).decision {
                Decision::Node(n) => t.add_pod(&n, &pod),
                other => panic!("{other:?}"),
            }
        }
        for s in t.slots() {
            assert_eq!(s.usage.pods_of("rs-1"), 2, "{}", s.name);
        }
    }

    #[test]
    fn large_clusters_are_sampled_from_a_rotating_offset() {
        let t = table(1000, 4000);
        let mut rng = StdRng::seed_from_u64(3);
        let out = decide(terms(), &demand(100, None), &t, 990, &mut rng);
        // 100 fitting nodes are enough, starting at slot 990 and wrapping.
        assert_eq!(out.examined, 100);
        let Decision::Node(name) = out.decision else {
            panic!("unschedulable")
        };
        let slot: usize = name.trim_start_matches("node-").parse().unwrap();
        assert!(!(90..990).contains(&slot), "{name}");
    }

    /// Not a timing assertion: prints how many decisions per second the pure
    /// function makes over 1,000 nodes (debug build unless `--release`).
    #[test]
    fn decisions_per_second_over_1000_nodes() {
        let mut t = table(1000, 64_000);
        let mut rng = StdRng::seed_from_u64(11);
        let mut start = 0;
        let owners = ["rs-a", "rs-b", "rs-c", "rs-d"];
        let decisions = 5_000;
        let began = Instant::now();
        for i in 0..decisions {
            let pod = demand(10, Some(owners[i % owners.len()]));
            let out = decide(terms(), &pod, &t, start, &mut rng);
            start = (start + out.examined) % t.slots().len();
            let Decision::Node(n) = out.decision else {
                panic!("unschedulable")
            };
            t.add_pod(&n, &pod);
        }
        let secs = began.elapsed().as_secs_f64();
        println!(
            "scheduler decide(): {decisions} decisions over 1000 nodes in {secs:.3}s = {:.0} decisions/s",
            decisions as f64 / secs
        );
        let placed: i64 = t.slots().iter().map(|s| s.usage.pods).sum();
        assert_eq!(placed, decisions as i64);
        assert!(t.slots().iter().all(|s| s.usage.pods <= 110));
    }
}
