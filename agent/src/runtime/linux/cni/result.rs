//! Reading the pod's address out of a CNI 1.0 result.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use super::PodNetwork;

#[derive(Deserialize)]
struct CniResult {
    #[serde(default)]
    interfaces: Vec<Interface>,
    #[serde(default)]
    ips: Vec<IpConfig>,
}

#[derive(Deserialize)]
struct Interface {
    name: String,
    #[serde(default)]
    sandbox: String,
}

#[derive(Deserialize)]
struct IpConfig {
    /// `10.250.1.2/24`
    address: String,
    #[serde(default)]
    gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default)]
    interface: Option<usize>,
}

/// The first address on the pod's interface `if_name` (the one inside the
/// sandbox), or the first address at all when the result names no
/// interfaces.
pub(super) fn pod_network(result: &Value, if_name: &str) -> Result<PodNetwork, String> {
    let parsed: CniResult =
        serde_json::from_value(result.clone()).map_err(|e| format!("{e} in {result}"))?;
    let on_pod_interface = |ip: &&IpConfig| {
        ip.interface
            .and_then(|i| parsed.interfaces.get(i))
            .is_some_and(|iface| iface.name == if_name && !iface.sandbox.is_empty())
    };
    let chosen = parsed
        .ips
        .iter()
        .find(on_pod_interface)
        .or_else(|| parsed.ips.first().filter(|_| parsed.interfaces.is_empty()))
        .ok_or_else(|| format!("no IP address on {if_name} in {result}"))?;

    let address = chosen.address.split('/').next().unwrap_or_default();
    let ip: IpAddr = address
        .parse()
        .map_err(|_| format!("bad address {:?}", chosen.address))?;
    let gateway = chosen
        .gateway
        .as_deref()
        .map(|g| g.parse().map_err(|_| format!("bad gateway {g:?}")))
        .transpose()?;
    Ok(PodNetwork {
        ip,
        gateway,
        interface: if_name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_the_address_on_the_sandbox_interface() {
        let result = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "cbr0", "mac": "aa:bb:cc:dd:ee:01"},
                {"name": "veth1234", "mac": "aa:bb:cc:dd:ee:02"},
                {"name": "eth0", "mac": "aa:bb:cc:dd:ee:03", "sandbox": "/s/net"}
            ],
            "ips": [
                {"interface": 0, "address": "10.250.1.1/24"},
                {"interface": 2, "address": "10.250.1.2/24", "gateway": "10.250.1.1"}
            ],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {}
        });
        let pod = pod_network(&result, "eth0").unwrap();
        assert_eq!(pod.ip, "10.250.1.2".parse::<IpAddr>().unwrap());
        assert_eq!(pod.gateway, Some("10.250.1.1".parse().unwrap()));
        assert_eq!(pod.interface, "eth0");
    }

    #[test]
    fn result_without_interfaces_uses_the_first_address() {
        let result = json!({"cniVersion": "1.0.0", "ips": [{"address": "fd00::5/64"}]});
        let pod = pod_network(&result, "eth0").unwrap();
        assert_eq!(pod.ip, "fd00::5".parse::<IpAddr>().unwrap());
        assert_eq!(pod.gateway, None);
    }

    #[test]
    fn missing_or_bad_addresses_are_errors() {
        let none = json!({"interfaces": [{"name": "eth0", "sandbox": "/s"}], "ips": []});
        assert!(
            pod_network(&none, "eth0")
                .unwrap_err()
                .contains("no IP address on eth0")
        );
        let bad = json!({"ips": [{"address": "nope/24"}]});
        assert!(
            pod_network(&bad, "eth0")
                .unwrap_err()
                .contains("bad address")
        );
        assert!(pod_network(&json!([1]), "eth0").is_err());
    }
}
