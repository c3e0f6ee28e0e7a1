//! How strategic merge treats each field: which lists merge (and by which
//! key), which are sets of scalars, which maps get `$retainKeys`. This is
//! the `patchStrategy`/`patchMergeKey` struct tags of the Kubernetes types,
//! written as a small type graph so that a new kind is a few lines here.

use crate::resource::ResourceType;

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the whole list (the default).
    Replace,
    /// Elements are objects identified by this key (`containers` by `name`).
    MergeByKey(&'static str),
    /// Elements are scalars merged as a set (`metadata.finalizers`).
    MergeSet,
}

/// Where a value sits in an object, as far as strategic merge cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// Nothing special below this point: maps merge, lists replace.
    Plain,
    /// The top of an object of this kind.
    Root(&'static str),
    ObjectMeta,
    /// Deployment / ReplicaSet spec (`template`, `strategy`).
    WorkloadSpec,
    JobSpec,
    CronJobSpec,
    /// CronJob `spec.jobTemplate`.
    JobTemplate,
    PodTemplate,
    PodSpec,
    Container,
    ServiceSpec,
    NodeSpec,
    PodStatus,
    NodeStatus,
    /// A status whose only special field is `conditions` (by `type`).
    StatusWithConditions,
}

/// What strategic merge needs to know about one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldStrategy {
    /// How the field merges when it is a list.
    pub list: ListStrategy,
    /// The field (a map), or each element of the field (a list of maps),
    /// carries `$retainKeys` in generated patches (`patchStrategy: retainKeys`).
    pub retain_keys: bool,
    /// The node of the field's value (of its elements, for a list).
    pub node: Node,
}

impl FieldStrategy {
    const fn plain(node: Node) -> FieldStrategy {
        FieldStrategy {
            list: ListStrategy::Replace,
            retain_keys: false,
            node,
        }
    }

    const fn by_key(key: &'static str, node: Node) -> FieldStrategy {
        FieldStrategy {
            list: ListStrategy::MergeByKey(key),
            retain_keys: false,
            node,
        }
    }

    const fn retained(mut self) -> FieldStrategy {
        self.retain_keys = true;
        self
    }

    /// The merge key, for lists that merge by key.
    pub fn merge_key(&self) -> Option<&'static str> {
        match self.list {
            ListStrategy::MergeByKey(k) => Some(k),
            _ => None,
        }
    }
}

impl Node {
    /// The top of an object of `rt`'s kind.
    pub fn root(rt: &ResourceType) -> Node {
        Node::Root(rt.kind)
    }

    /// The strategy of field `name` of a value at this node.
    pub fn field(self, name: &str) -> FieldStrategy {
        use FieldStrategy as F;
        let plain = F::plain(Node::Plain);
        match (self, name) {
            (Node::Root(_), "metadata") => F::plain(Node::ObjectMeta),
            (Node::Root(kind), "spec") => F::plain(spec_node(kind)),
            (Node::Root(kind), "status") => F::plain(status_node(kind)),

            (Node::ObjectMeta, "finalizers") => FieldStrategy {
                list: ListStrategy::MergeSet,
                ..plain
            },
            (Node::ObjectMeta, "ownerReferences") => F::by_key("uid", Node::Plain),

            (Node::WorkloadSpec, "template") | (Node::JobSpec, "template") => {
                F::plain(Node::PodTemplate)
            }
            (Node::WorkloadSpec, "strategy") => plain.retained(),
            (Node::CronJobSpec, "jobTemplate") => F::plain(Node::JobTemplate),
            (Node::JobTemplate, "metadata") | (Node::PodTemplate, "metadata") => {
                F::plain(Node::ObjectMeta)
            }
            (Node::JobTemplate, "spec") => F::plain(Node::JobSpec),
            (Node::PodTemplate, "spec") => F::plain(Node::PodSpec),

            (Node::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                F::by_key("name", Node::Container)
            }
            (Node::PodSpec, "volumes") => F::by_key("name", Node::Plain).retained(),
            (Node::PodSpec, "resourceClaims") => F::by_key("name", Node::Plain).retained(),
            (Node::PodSpec, "imagePullSecrets" | "schedulingGates") => {
                F::by_key("name", Node::Plain)
            }
            (Node::PodSpec, "hostAliases") => F::by_key("ip", Node::Plain),
            (Node::PodSpec, "topologySpreadConstraints") => F::by_key("topologyKey", Node::Plain),

            (Node::Container, "ports") => F::by_key("containerPort", Node::Plain),
            (Node::Container, "env") => F::by_key("name", Node::Plain),
            (Node::Container, "volumeMounts") => F::by_key("mountPath", Node::Plain),
            (Node::Container, "volumeDevices") => F::by_key("devicePath", Node::Plain),

            (Node::ServiceSpec, "ports") => F::by_key("port", Node::Plain),
            (Node::NodeSpec, "podCIDRs") => FieldStrategy {
                list: ListStrategy::MergeSet,
                ..plain
            },

            (Node::PodStatus, "podIPs" | "hostIPs") => F::by_key("ip", Node::Plain),
            (Node::NodeStatus, "addresses") => F::by_key("type", Node::Plain),
            (Node::PodStatus | Node::NodeStatus | Node::StatusWithConditions, "conditions") => {
                F::by_key("type", Node::Plain)
            }

            _ => plain,
        }
    }
}

fn spec_node(kind: &str) -> Node {
    match kind {
        "Pod" => Node::PodSpec,
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => Node::WorkloadSpec,
        "Job" => Node::JobSpec,
        "CronJob" => Node::CronJobSpec,
        "Service" => Node::ServiceSpec,
        "Node" => Node::NodeSpec,
        _ => Node::Plain,
    }
}

fn status_node(kind: &str) -> Node {
    match kind {
        "Pod" => Node::PodStatus,
        "Node" => Node::NodeStatus,
        _ => Node::StatusWithConditions,
    }
}

/// The strategy of the field at `path` (field names from the object's top,
/// list indices left out): `["spec","template","spec","containers"]` ->
/// merge by `name`.
pub fn field_strategy(rt: &ResourceType, path: &[&str]) -> FieldStrategy {
    let mut strategy = FieldStrategy::plain(Node::root(rt));
    for name in path {
        strategy = strategy.node.field(name);
    }
    strategy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::by_kind;

    fn at(api_version: &str, kind: &str, path: &str) -> FieldStrategy {
        let rt = by_kind(api_version, kind).unwrap();
        let segs: Vec<&str> = path.split('.').collect();
        field_strategy(rt, &segs)
    }

    #[test]
    fn pod_template_lists() {
        let d = |p: &str| at("apps/v1", "Deployment", p).list;
        assert_eq!(
            d("spec.template.spec.containers"),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            d("spec.template.spec.initContainers"),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            d("spec.template.spec.containers.ports"),
            ListStrategy::MergeByKey("containerPort")
        );
        assert_eq!(
            d("spec.template.spec.containers.env"),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            d("spec.template.spec.containers.envFrom"),
            ListStrategy::Replace
        );
        assert_eq!(
            d("spec.template.spec.containers.volumeMounts"),
            ListStrategy::MergeByKey("mountPath")
        );
        assert_eq!(
            d("spec.template.spec.containers.volumeDevices"),
            ListStrategy::MergeByKey("devicePath")
        );
        assert_eq!(d("spec.template.spec.tolerations"), ListStrategy::Replace);
        assert_eq!(
            d("spec.template.spec.hostAliases"),
            ListStrategy::MergeByKey("ip")
        );
        assert_eq!(
            d("spec.template.spec.topologySpreadConstraints"),
            ListStrategy::MergeByKey("topologyKey")
        );
        assert_eq!(
            d("spec.template.spec.imagePullSecrets"),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            d("spec.template.metadata.finalizers"),
            ListStrategy::MergeSet
        );
        assert_eq!(d("status.conditions"), ListStrategy::MergeByKey("type"));
        assert!(at("apps/v1", "Deployment", "spec.strategy").retain_keys);
        assert!(at("apps/v1", "Deployment", "spec.template.spec.volumes").retain_keys);
    }

    #[test]
    fn other_kinds() {
        assert_eq!(at("v1", "Pod", "spec.containers").merge_key(), Some("name"));
        assert_eq!(
            at("v1", "Pod", "status.conditions").merge_key(),
            Some("type")
        );
        assert_eq!(
            at("v1", "Pod", "status.containerStatuses").merge_key(),
            None
        );
        assert_eq!(at("v1", "Service", "spec.ports").merge_key(), Some("port"));
        assert_eq!(
            at("v1", "Node", "status.addresses").merge_key(),
            Some("type")
        );
        assert_eq!(at("v1", "Node", "spec.taints").merge_key(), None);
        assert_eq!(
            at("v1", "Node", "spec.podCIDRs").list,
            ListStrategy::MergeSet
        );
        assert_eq!(
            at("v1", "ConfigMap", "metadata.ownerReferences").merge_key(),
            Some("uid")
        );
        assert_eq!(
            at("v1", "ConfigMap", "metadata.finalizers").list,
            ListStrategy::MergeSet
        );
        assert_eq!(
            at(
                "batch/v1",
                "CronJob",
                "spec.jobTemplate.spec.template.spec.containers.env"
            )
            .merge_key(),
            Some("name")
        );
        assert_eq!(
            at("batch/v1", "Job", "spec.template.spec.containers").merge_key(),
            Some("name")
        );
        assert_eq!(at("v1", "Endpoints", "subsets").merge_key(), None);
    }
}
