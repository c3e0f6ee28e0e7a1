//! Endpoints: the addresses behind a Service, written by the endpoints
//! controller and read by the service proxy.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::container_validation::PROTOCOLS;
use super::reference::ObjectReference;
use crate::meta::ObjectMeta;
use crate::object::Object;
use crate::resource::ResourceType;
use crate::validation::{
    FieldError, child, index, is_dns1123_label, is_dns1123_subdomain, is_ip, is_valid_port_num,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<EndpointSubset>,
}

/// Addresses that all serve the same ports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<EndpointAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    #[serde(default)]
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

fn validate_addresses(addresses: &[EndpointAddress], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        let ip = index(path, i);
        for msg in is_ip(&a.ip) {
            errs.push(FieldError::invalid(child(&ip, "ip"), &a.ip, msg));
        }
        if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
            for msg in is_dns1123_label(h) {
                errs.push(FieldError::invalid(child(&ip, "hostname"), h, msg));
            }
        }
        if let Some(n) = a.node_name.as_deref().filter(|n| !n.is_empty()) {
            for msg in is_dns1123_subdomain(n) {
                errs.push(FieldError::invalid(child(&ip, "nodeName"), n, msg));
            }
        }
    }
    errs
}

fn validate_ports(ports: &[EndpointPort], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = index(path, i);
        let name = p.name.as_deref().unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(child(&ip, "name"), ""));
        } else if !name.is_empty() {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(child(&ip, "name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&ip, "name"), name));
            }
        }
        for msg in is_valid_port_num(i64::from(p.port)) {
            errs.push(FieldError::invalid(child(&ip, "port"), &p.port, msg));
        }
        match p.protocol.as_deref().unwrap_or_default() {
            "" => errs.push(FieldError::required(child(&ip, "protocol"), "")),
            proto if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                child(&ip, "protocol"),
                proto,
                &PROTOCOLS,
            )),
            _ => {}
        }
    }
    errs
}

impl Object for Endpoints {
    const RESOURCE: &'static ResourceType = &super::ENDPOINTS;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn set_defaults(&mut self) {
        for p in self.subsets.iter_mut().flat_map(|s| s.ports.iter_mut()) {
            if p.protocol.as_deref().unwrap_or_default().is_empty() {
                p.protocol = Some("TCP".into());
            }
        }
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, s) in self.subsets.iter().enumerate() {
            let sp = index("subsets", i);
            if s.addresses.is_empty() && s.not_ready_addresses.is_empty() {
                errs.push(FieldError::required(
                    &sp,
                    "must specify `addresses` or `notReadyAddresses`",
                ));
            }
            errs.extend(validate_addresses(&s.addresses, &child(&sp, "addresses")));
            errs.extend(validate_addresses(
                &s.not_ready_addresses,
                &child(&sp, "notReadyAddresses"),
            ));
            errs.extend(validate_ports(&s.ports, &child(&sp, "ports")));
        }
        errs
    }
}
