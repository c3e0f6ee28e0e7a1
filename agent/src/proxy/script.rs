//! The nftables text the proxy feeds to `nft -f -`: the table's fixed
//! skeleton, each Service port's chains, sets and map elements, and the
//! smallest transaction that turns one set of those into another.
//!
//! Layout of `table ip <name>`:
//! - `nat-prerouting` / `nat-output` (dstnat) jump to `services`, which
//!   looks the destination up in `cluster-ips` and `external-ips`
//!   (`addr . proto . port : goto ...`) and, for local destinations, in
//!   `nodeports` (`proto . port : goto ...`).
//! - `svc-<id>` picks an endpoint: a client remembered in an affinity set
//!   goes back to its endpoint, others by `numgen random mod N` through the
//!   map `eps-<id>` (slot -> endpoint chain). Endpoints keep their slots
//!   across updates, so one endpoint change is a couple of map elements,
//!   not a rewrite of 10,000.
//! - `ep-<id>/<ip>/<port>` marks hairpin traffic for masquerade,
//!   remembers the client (affinity) and DNATs.
//! - `ext-<id>` (NodePorts, external and load-balancer IPs) marks all
//!   traffic for masquerade (kube-proxy's Cluster traffic policy), so
//!   replies come back through this node, also to pods of other nodes.
//! - `nat-postrouting` (srcnat) masquerades marked packets only.
//! - `filter-*` (after DNAT: prerouting at priority -90, output and input
//!   at filter): what still heads for the service CIDR, or for a Service
//!   port without ready endpoints, is rejected (TCP reset, else ICMP port
//!   unreachable): nothing leaves the node for a virtual IP, and a client
//!   learns at once (in prerouting, before routing, since a node may have
//!   no route for the service CIDR at all).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::model::ServicePortRules;

/// The packet mark bit that asks `nat-postrouting` to masquerade.
pub const MASQUERADE_MARK: u32 = 0x4000;

/// The skeleton's maps and sets that every Service adds elements to: a
/// key there (an `ip . proto . port`, a NodePort) can be wanted by two
/// Services (two LoadBalancers on the same port share the node IPs).
pub const SHARED_MAPS: [&str; 5] = [
    "cluster-ips",
    "external-ips",
    "nodeports",
    "no-endpoint-services",
    "no-endpoint-nodeports",
];

/// What the skeleton depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    /// The table's name (`table ip <name>`).
    pub table: String,
    /// ClusterIPs come from here; unmatched traffic to it is rejected.
    pub service_cidr: String,
    /// Pod IPs of the whole cluster. NodePort and external-IP traffic is
    /// masqueraded whatever its source (a pod of another node too), so this
    /// no longer changes the rules.
    pub cluster_cidr: Option<String>,
}

/// The nft objects one Service port owns: named sets and maps (name ->
/// (`set` or `map`, definition)), chains (name -> rules) and elements of
/// maps and sets (`(map, key) -> value`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    pub sets: BTreeMap<String, (&'static str, String)>,
    pub chains: BTreeMap<String, Vec<String>>,
    pub elements: BTreeMap<(String, String), Option<String>>,
}

impl Objects {
    /// Adds `other`'s objects (they never share names: ids are unique).
    pub fn extend(&mut self, other: &Objects) {
        self.sets
            .extend(other.sets.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.chains
            .extend(other.chains.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.elements
            .extend(other.elements.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

fn endpoint_name(rules: &ServicePortRules, ip: &std::net::Ipv4Addr, port: u16) -> String {
    format!("{}/{ip}/{port}", rules.id)
}

/// Which slot of `eps-<id>` each endpoint chain takes: the one it had in
/// `previous` when still below the new count, else the lowest free one.
fn endpoint_slots(map: &str, chains: &[String], previous: Option<&Objects>) -> Vec<usize> {
    let n = chains.len();
    let mut had: HashMap<&str, usize> = HashMap::new();
    for ((name, key), value) in previous.map(|p| &p.elements).into_iter().flatten() {
        if name == map
            && let (Ok(slot), Some(target)) = (key.parse::<usize>(), value)
            && let Some(chain) = target.strip_prefix("goto ")
        {
            had.insert(chain, slot);
        }
    }
    let mut taken = vec![false; n];
    let mut slots: Vec<Option<usize>> = chains
        .iter()
        .map(|c| {
            let slot = had
                .get(c.as_str())
                .copied()
                .filter(|s| *s < n && !taken[*s])?;
            taken[slot] = true;
            Some(slot)
        })
        .collect();
    let mut free = (0..n).filter(|s| !taken[*s]);
    for slot in &mut slots {
        if slot.is_none() {
            *slot = free.next();
        }
    }
    slots
        .into_iter()
        .map(|s| s.expect("as many slots as endpoints"))
        .collect()
}

/// The objects of one Service port; `previous` (what the table holds for
/// its Service) keeps endpoints in their slots.
pub fn service_objects(
    _settings: &TableSettings,
    rules: &ServicePortRules,
    previous: Option<&Objects>,
) -> Objects {
    let mut objects = Objects::default();
    let id = &rules.id;
    let proto = rules.protocol;
    let svc_chain = format!("svc-{id}");
    let eps_map = format!("eps-{id}");
    let mut svc_rules = Vec::new();
    let ep_chains: Vec<String> = rules
        .endpoints
        .iter()
        .map(|(ip, port)| format!("ep-{}", endpoint_name(rules, ip, *port)))
        .collect();
    let slots = endpoint_slots(&eps_map, &ep_chains, previous);
    for (((ip, port), ep_chain), slot) in rules.endpoints.iter().zip(ep_chains).zip(slots) {
        let stem = endpoint_name(rules, ip, *port);
        let mut ep_rules = vec![format!(
            "ip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK:#x}"
        )];
        if let Some(timeout) = rules.affinity_timeout {
            // The timeout is part of the name: a changed timeout is a new set.
            let set = format!("aff-{stem}/{timeout}");
            objects.sets.insert(
                set.clone(),
                (
                    "set",
                    format!("type ipv4_addr; flags dynamic,timeout; timeout {timeout}s;"),
                ),
            );
            svc_rules.push(format!("ip saddr @{set} goto {ep_chain}"));
            ep_rules.push(format!("update @{set} {{ ip saddr }}"));
        }
        ep_rules.push(format!("meta l4proto {proto} dnat to {ip}:{port}"));
        objects.elements.insert(
            (eps_map.clone(), slot.to_string()),
            Some(format!("goto {ep_chain}")),
        );
        objects.chains.insert(ep_chain, ep_rules);
    }
    if !rules.endpoints.is_empty() {
        objects.sets.insert(
            eps_map.clone(),
            ("map", "typeof numgen random mod 1 : verdict;".into()),
        );
        svc_rules.push(format!(
            "numgen random mod {} vmap @{eps_map}",
            rules.endpoints.len()
        ));
    }
    objects.chains.insert(svc_chain.clone(), svc_rules);

    let external = !rules.external_ips.is_empty() || rules.node_port.is_some();
    let ext_chain = format!("ext-{id}");
    if external {
        // Everything, pods of other nodes included: their packets DNATed
        // here to an endpoint on a third node would otherwise be answered
        // straight from that pod, which the client never connected to (the
        // e2e lab test saw half its NodePort requests time out).
        let mark = format!("meta mark set meta mark | {MASQUERADE_MARK:#x}");
        objects
            .chains
            .insert(ext_chain.clone(), vec![mark, format!("goto {svc_chain}")]);
    }
    let no_endpoints = rules.endpoints.is_empty();
    let mut element = |map: &str, key: String, value: Option<String>| {
        objects.elements.insert((map.to_string(), key), value);
    };
    for ip in &rules.cluster_ips {
        let key = format!("{ip} . {proto} . {}", rules.port);
        element(
            "cluster-ips",
            key.clone(),
            Some(format!("goto {svc_chain}")),
        );
        if no_endpoints {
            element("no-endpoint-services", key, None);
        }
    }
    for ip in &rules.external_ips {
        let key = format!("{ip} . {proto} . {}", rules.port);
        element(
            "external-ips",
            key.clone(),
            Some(format!("goto {ext_chain}")),
        );
        if no_endpoints {
            element("no-endpoint-services", key, None);
        }
    }
    if let Some(node_port) = rules.node_port {
        let key = format!("{proto} . {node_port}");
        element("nodeports", key.clone(), Some(format!("goto {ext_chain}")));
        if no_endpoints {
            element("no-endpoint-nodeports", key, None);
        }
    }
    objects
}

/// A transaction that (re)creates the table empty of Services: an existing
/// table of that name (ours, from an earlier run) goes in the same step.
pub fn skeleton_script(settings: &TableSettings) -> String {
    let t = &settings.table;
    let cidr = &settings.service_cidr;
    let mark = format!("{MASQUERADE_MARK:#x}");
    let addr_key = "type ipv4_addr . inet_proto . inet_service";
    let port_key = "type inet_proto . inet_service";
    let new_reject = "ip daddr . meta l4proto . th dport @no-endpoint-services jump reject-service";
    format!(
        "add table ip {t}\n\
         delete table ip {t}\n\
         table ip {t} {{\n\
         \tmap cluster-ips {{ {addr_key} : verdict; }}\n\
         \tmap external-ips {{ {addr_key} : verdict; }}\n\
         \tmap nodeports {{ {port_key} : verdict; }}\n\
         \tset no-endpoint-services {{ {addr_key}; }}\n\
         \tset no-endpoint-nodeports {{ {port_key}; }}\n\
         \tchain reject-service {{ meta l4proto tcp reject with tcp reset; reject; }}\n\
         \tchain services {{\n\
         \t\tip daddr . meta l4proto . th dport vmap @cluster-ips\n\
         \t\tip daddr . meta l4proto . th dport vmap @external-ips\n\
         \t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @nodeports\n\
         \t}}\n\
         \tchain nat-prerouting {{ type nat hook prerouting priority dstnat; policy accept; jump services; }}\n\
         \tchain nat-output {{ type nat hook output priority -100; policy accept; jump services; }}\n\
         \tchain nat-postrouting {{ type nat hook postrouting priority srcnat; policy accept; \
         meta mark & {mark} == {mark} meta mark set meta mark ^ {mark} masquerade; }}\n\
         \tchain filter-input {{ type filter hook input priority filter; policy accept; \
         ct state new fib daddr type local meta l4proto . th dport @no-endpoint-nodeports jump reject-service; \
         ct state new {new_reject}; }}\n\
         \tchain filter-prerouting {{ type filter hook prerouting priority -90; policy accept; \
         {new_reject}; ip daddr {cidr} jump reject-service; }}\n\
         \tchain filter-output {{ type filter hook output priority filter; policy accept; \
         {new_reject}; ip daddr {cidr} jump reject-service; }}\n\
         }}\n"
    )
}

/// Removes the table (and only it); nothing if it is not there.
pub fn delete_table_script(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

/// The transaction that turns `old` into `new`, touching only what
/// differs: new sets and chains are made, changed chains flushed and
/// refilled, gone elements, chains and sets deleted. Empty if equal.
pub fn diff_script(table: &str, old: &Objects, new: &Objects) -> String {
    let mut out = String::new();
    // 1. New sets and chains, empty, so that anything may refer to them.
    for (name, (kind, spec)) in &new.sets {
        if !old.sets.contains_key(name) {
            let _ = writeln!(out, "add {kind} ip {table} {name} {{ {spec} }}");
        }
    }
    let mut refill = Vec::new();
    for (name, rules) in &new.chains {
        match old.chains.get(name) {
            None => {
                let _ = writeln!(out, "add chain ip {table} {name}");
                refill.push((name, rules));
            }
            Some(before) if before != rules => {
                let _ = writeln!(out, "flush chain ip {table} {name}");
                refill.push((name, rules));
            }
            Some(_) => {}
        }
    }
    // 2. Chains that stay but change are flushed above; gone chains are
    //    flushed too, so that no rule still points at what goes next.
    for name in old.chains.keys() {
        if !new.chains.contains_key(name) {
            let _ = writeln!(out, "flush chain ip {table} {name}");
        }
    }
    // 3. Elements that go or change value.
    for ((map, key), value) in &old.elements {
        if new.elements.get(&(map.clone(), key.clone())) != Some(value) {
            let _ = writeln!(out, "delete element ip {table} {map} {{ {key} }}");
        }
    }
    // 4. Gone chains and sets.
    for name in old.chains.keys() {
        if !new.chains.contains_key(name) {
            let _ = writeln!(out, "delete chain ip {table} {name}");
        }
    }
    for (name, (kind, _)) in &old.sets {
        if !new.sets.contains_key(name) {
            let _ = writeln!(out, "delete {kind} ip {table} {name}");
        }
    }
    // 5. Rules of new and changed chains (endpoint chains sort before the
    //    service chains that jump to them; order does not matter here).
    for (name, rules) in refill {
        for rule in rules {
            let _ = writeln!(out, "add rule ip {table} {name} {rule}");
        }
    }
    // 6. New and changed elements.
    for ((map, key), value) in &new.elements {
        if old.elements.get(&(map.clone(), key.clone())) != Some(value) {
            match value {
                Some(v) => {
                    let _ = writeln!(out, "add element ip {table} {map} {{ {key} : {v} }}");
                }
                None => {
                    let _ = writeln!(out, "add element ip {table} {map} {{ {key} }}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn settings() -> TableSettings {
        TableSettings {
            table: "skiff".into(),
            service_cidr: "10.96.0.0/12".into(),
            cluster_cidr: Some("10.250.0.0/16".into()),
        }
    }

    fn rules(endpoints: &[(u8, u16)]) -> ServicePortRules {
        ServicePortRules {
            id: "shop/web/tcp/80".into(),
            protocol: "tcp",
            port: 80,
            cluster_ips: vec![Ipv4Addr::new(10, 96, 0, 10)],
            external_ips: Vec::new(),
            node_port: None,
            endpoints: endpoints
                .iter()
                .map(|(last, port)| (Ipv4Addr::new(10, 1, 0, *last), *port))
                .collect(),
            affinity_timeout: None,
        }
    }

    #[test]
    fn a_service_balances_randomly_over_endpoint_chains_that_dnat() {
        let o = service_objects(&settings(), &rules(&[(2, 8080), (3, 8080)]), None);
        assert_eq!(
            o.chains["svc-shop/web/tcp/80"],
            vec!["numgen random mod 2 vmap @eps-shop/web/tcp/80"]
        );
        let slot = |n: &str| ("eps-shop/web/tcp/80".to_string(), n.to_string());
        assert_eq!(
            o.elements[&slot("0")].as_deref(),
            Some("goto ep-shop/web/tcp/80/10.1.0.2/8080")
        );
        assert_eq!(
            o.elements[&slot("1")].as_deref(),
            Some("goto ep-shop/web/tcp/80/10.1.0.3/8080")
        );
        assert_eq!(
            o.chains["ep-shop/web/tcp/80/10.1.0.3/8080"],
            vec![
                "ip saddr 10.1.0.3 meta mark set meta mark | 0x4000",
                "meta l4proto tcp dnat to 10.1.0.3:8080"
            ]
        );
        let key = (
            "cluster-ips".to_string(),
            "10.96.0.10 . tcp . 80".to_string(),
        );
        assert_eq!(
            o.elements[&key].as_deref(),
            Some("goto svc-shop/web/tcp/80")
        );
        assert_eq!(o.sets.keys().collect::<Vec<_>>(), ["eps-shop/web/tcp/80"]);
        assert!(!o.chains.contains_key("ext-shop/web/tcp/80"));
    }

    #[test]
    fn without_endpoints_a_service_is_listed_for_rejection() {
        let mut r = rules(&[]);
        r.node_port = Some(30080);
        let o = service_objects(&settings(), &r, None);
        assert!(o.chains["svc-shop/web/tcp/80"].is_empty());
        let no_ep = (
            "no-endpoint-services".to_string(),
            "10.96.0.10 . tcp . 80".into(),
        );
        assert_eq!(o.elements[&no_ep], None);
        let no_np = ("no-endpoint-nodeports".to_string(), "tcp . 30080".into());
        assert_eq!(o.elements[&no_np], None);
    }

    #[test]
    fn node_ports_and_external_ips_masquerade_all_traffic() {
        let mut r = rules(&[(2, 8080)]);
        r.node_port = Some(30080);
        r.external_ips = vec![Ipv4Addr::new(10, 250, 0, 1)];
        let o = service_objects(&settings(), &r, None);
        assert_eq!(
            o.chains["ext-shop/web/tcp/80"],
            vec![
                "meta mark set meta mark | 0x4000",
                "goto svc-shop/web/tcp/80"
            ]
        );
        let np = ("nodeports".to_string(), "tcp . 30080".to_string());
        assert_eq!(o.elements[&np].as_deref(), Some("goto ext-shop/web/tcp/80"));
        let ext = (
            "external-ips".to_string(),
            "10.250.0.1 . tcp . 80".to_string(),
        );
        assert_eq!(
            o.elements[&ext].as_deref(),
            Some("goto ext-shop/web/tcp/80")
        );
    }

    #[test]
    fn client_ip_affinity_remembers_the_endpoint_per_client() {
        let mut r = rules(&[(2, 8080)]);
        r.affinity_timeout = Some(60);
        let o = service_objects(&settings(), &r, None);
        let set = "aff-shop/web/tcp/80/10.1.0.2/8080/60";
        assert_eq!(
            o.sets[set],
            (
                "set",
                "type ipv4_addr; flags dynamic,timeout; timeout 60s;".into()
            )
        );
        assert_eq!(
            o.chains["svc-shop/web/tcp/80"][0],
            format!("ip saddr @{set} goto ep-shop/web/tcp/80/10.1.0.2/8080")
        );
        assert_eq!(
            o.chains["ep-shop/web/tcp/80/10.1.0.2/8080"][1],
            format!("update @{set} {{ ip saddr }}")
        );
    }

    #[test]
    fn diffs_touch_only_what_changed() {
        let s = settings();
        let before = service_objects(&s, &rules(&[(2, 8080), (3, 8080)]), None);
        let after = service_objects(&s, &rules(&[(3, 8080), (4, 8080)]), Some(&before));
        let script = diff_script("skiff", &before, &after);
        let lines: Vec<&str> = script.lines().collect();
        // 10.1.0.3 keeps slot 1; 10.1.0.4 takes the freed slot 0; the
        // service chain (still 2 endpoints) is untouched.
        assert_eq!(
            lines,
            vec![
                "add chain ip skiff ep-shop/web/tcp/80/10.1.0.4/8080",
                "flush chain ip skiff ep-shop/web/tcp/80/10.1.0.2/8080",
                "delete element ip skiff eps-shop/web/tcp/80 { 0 }",
                "delete chain ip skiff ep-shop/web/tcp/80/10.1.0.2/8080",
                "add rule ip skiff ep-shop/web/tcp/80/10.1.0.4/8080 \
                 ip saddr 10.1.0.4 meta mark set meta mark | 0x4000",
                "add rule ip skiff ep-shop/web/tcp/80/10.1.0.4/8080 \
                 meta l4proto tcp dnat to 10.1.0.4:8080",
                "add element ip skiff eps-shop/web/tcp/80 { 0 : goto ep-shop/web/tcp/80/10.1.0.4/8080 }",
            ]
        );
        // One fewer: the last slot moves into the hole, the count changes.
        let fewer = service_objects(&s, &rules(&[(4, 8080)]), Some(&after));
        let slot0 = ("eps-shop/web/tcp/80".to_string(), "0".to_string());
        assert_eq!(
            fewer.elements[&slot0].as_deref(),
            Some("goto ep-shop/web/tcp/80/10.1.0.4/8080")
        );
        let three = service_objects(&s, &rules(&[(3, 8080)]), Some(&after));
        assert_eq!(
            three.elements[&slot0].as_deref(),
            Some("goto ep-shop/web/tcp/80/10.1.0.3/8080")
        );
        assert_eq!(
            three.chains["svc-shop/web/tcp/80"],
            vec!["numgen random mod 1 vmap @eps-shop/web/tcp/80"]
        );
        assert_eq!(diff_script("skiff", &after, &after), "");
    }

    #[test]
    fn removing_a_service_deletes_elements_before_chains() {
        let s = settings();
        let before = service_objects(&s, &rules(&[(2, 8080)]), None);
        let script = diff_script("skiff", &before, &Objects::default());
        let element = script
            .find("delete element ip skiff cluster-ips { 10.96.0.10 . tcp . 80 }")
            .unwrap();
        let chain = script
            .find("delete chain ip skiff svc-shop/web/tcp/80")
            .unwrap();
        assert!(element < chain, "{script}");
        assert!(!script.contains("add "), "{script}");
    }

    #[test]
    fn the_skeleton_replaces_only_its_own_table() {
        let text = skeleton_script(&settings());
        assert!(text.starts_with("add table ip skiff\ndelete table ip skiff\ntable ip skiff {"));
        assert!(text.contains("ip daddr 10.96.0.0/12 jump reject-service"));
        assert!(text.contains("type nat hook output priority -100"));
        assert_eq!(
            delete_table_script("lab1"),
            "add table ip lab1\ndelete table ip lab1\n"
        );
    }
}
