//! The network configurations handed to the plugins: a `loopback` network
//! for `lo` and the node's `bridge` + `host-local` network list.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::subnet::Subnet;
use super::{CniConfig, CniError};

pub(super) const CNI_VERSION: &str = "1.0.0";

/// Name of the loopback network (it allocates nothing, so any name works).
const LOOPBACK_NETWORK: &str = "cni-loopback";

/// A CNI network configuration list (`.conflist`): plugins run in order on
/// ADD and in reverse on DEL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct NetworkList {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    pub plugins: Vec<Map<String, Value>>,
}

impl NetworkList {
    pub(super) fn loopback() -> NetworkList {
        NetworkList {
            cni_version: CNI_VERSION.into(),
            name: LOOPBACK_NETWORK.into(),
            plugins: vec![object(json!({ "type": "loopback" }))],
        }
    }

    /// The pod network: one bridge per node acting as the pods' gateway,
    /// no masquerading (pod IPs are routed as they are), hairpin on so a
    /// pod reaches itself through a service, addresses from host-local.
    pub(super) fn bridge(config: &CniConfig, subnet: &Subnet) -> NetworkList {
        let mut bridge = object(json!({
            "type": "bridge",
            "bridge": config.bridge,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{
                    "subnet": subnet.to_string(),
                    "gateway": subnet.gateway().to_string(),
                }]],
                "routes": [{ "dst": if subnet.gateway().is_ipv4() { "0.0.0.0/0" } else { "::/0" } }],
                "dataDir": config.data_dir,
            },
        }));
        if let Some(mtu) = config.mtu {
            bridge.insert("mtu".into(), mtu.into());
        }
        NetworkList {
            cni_version: CNI_VERSION.into(),
            name: config.network_name.clone(),
            plugins: vec![bridge],
        }
    }

    /// What plugin `plugin` of this list reads on stdin: its own object
    /// plus the list's `name` and `cniVersion`, and the previous plugin's
    /// result (ADD) or the cached result (DEL) as `prevResult`.
    pub(super) fn stdin_for(
        &self,
        plugin: &Map<String, Value>,
        prev_result: Option<&Value>,
    ) -> Vec<u8> {
        let mut conf = Map::new();
        conf.insert("cniVersion".into(), self.cni_version.clone().into());
        conf.insert("name".into(), self.name.clone().into());
        for (key, value) in plugin {
            conf.insert(key.clone(), value.clone());
        }
        if let Some(prev) = prev_result {
            conf.insert("prevResult".into(), prev.clone());
        }
        serde_json::to_vec(&Value::Object(conf)).expect("JSON values always serialize")
    }
}

/// The `type` of one plugin object: the binary to run.
pub(super) fn plugin_type(plugin: &Map<String, Value>) -> Result<&str, CniError> {
    match plugin.get("type").and_then(Value::as_str) {
        Some(t) if !t.is_empty() && !t.contains('/') => Ok(t),
        _ => Err(CniError::InvalidConfig(format!(
            "plugin without a usable \"type\": {}",
            Value::Object(plugin.clone())
        ))),
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CniConfig {
        CniConfig {
            subnet: "10.250.1.0/24".into(),
            data_dir: "/var/lib/skiff/cni/ipam".into(),
            cache_dir: "/var/lib/skiff/cni/cache".into(),
            mtu: Some(1400),
            ..CniConfig::default()
        }
    }

    #[test]
    fn bridge_list_has_the_documented_shape() {
        let config = config();
        let subnet = Subnet::parse(&config.subnet).unwrap();
        let list = NetworkList::bridge(&config, &subnet);
        let stdin: Value = serde_json::from_slice(&list.stdin_for(&list.plugins[0], None)).unwrap();
        assert_eq!(
            stdin,
            json!({
                "cniVersion": "1.0.0",
                "name": "skiff",
                "type": "bridge",
                "bridge": "cbr0",
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.250.1.0/24", "gateway": "10.250.1.1"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "/var/lib/skiff/cni/ipam",
                },
                "mtu": 1400,
            })
        );
    }

    #[test]
    fn prev_result_is_passed_on() {
        let list = NetworkList::loopback();
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let stdin: Value =
            serde_json::from_slice(&list.stdin_for(&list.plugins[0], Some(&prev))).unwrap();
        assert_eq!(stdin["prevResult"], prev);
        assert_eq!(stdin["name"], "cni-loopback");
        assert_eq!(plugin_type(&list.plugins[0]).unwrap(), "loopback");
    }

    #[test]
    fn plugin_type_must_be_a_plain_name() {
        let err = plugin_type(&object(json!({"type": "../bin/sh"}))).unwrap_err();
        assert!(err.to_string().contains("usable \"type\""), "{err}");
        assert!(plugin_type(&object(json!({}))).is_err());
    }
}
