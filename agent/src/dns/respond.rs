//! One DNS message in, one out: parse the query, ask the zone, write the
//! answer (or say that it must be forwarded).

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::zone::{ClusterZone, Lookup, QueryType, RecordData};

/// Largest UDP answer offered to EDNS clients (the DNS flag day value).
pub const MAX_EDNS_UDP: usize = 1232;
/// Largest UDP answer to a client without EDNS.
pub const MAX_PLAIN_UDP: usize = 512;

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This message.
    Answer(Vec<u8>),
    /// A name outside the cluster with upstreams configured: forward the
    /// query as it came; send `fallback` (SERVFAIL) if no upstream answers.
    Forward { fallback: Vec<u8> },
    /// Too short to carry even a header: nothing to answer.
    Drop,
}

/// Answers queries for one cluster zone.
#[derive(Debug, Clone)]
pub struct Responder {
    zone: ClusterZone,
    ttl: u32,
    /// Upstreams exist: outside names are forwarded instead of denied.
    forwards: bool,
}

impl Responder {
    pub fn new(zone: ClusterZone, ttl: u32, forwards: bool) -> Responder {
        Responder {
            zone,
            ttl,
            forwards,
        }
    }

    pub fn zone(&self) -> &ClusterZone {
        &self.zone
    }

    /// The reply to `packet`; `udp`: it came over UDP, so the answer must
    /// fit the client's buffer (else it is truncated, TC set, for a retry
    /// over TCP).
    pub fn respond(&self, packet: &[u8], udp: bool) -> Reply {
        let request = match Message::from_vec(packet) {
            Ok(m) => m,
            Err(_) if packet.len() >= 2 => {
                let id = u16::from_be_bytes([packet[0], packet[1]]);
                return Reply::Answer(encode_or_empty(&Message::error_msg(
                    id,
                    OpCode::Query,
                    ResponseCode::FormErr,
                )));
            }
            Err(_) => return Reply::Drop,
        };
        if request.metadata.message_type != MessageType::Query {
            return Reply::Drop; // never answer an answer
        }
        let mut response = self.start_response(&request);
        if request.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return Reply::Answer(encode_or_empty(&response));
        }
        let [query] = request.queries.as_slice() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return Reply::Answer(encode_or_empty(&response));
        };
        let qname = query.name().to_ascii();
        let lookup = if matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            self.zone.lookup(&qname, query_type(query.query_type()))
        } else {
            Lookup::Outside
        };
        match lookup {
            Lookup::Outside if self.forwards => {
                response.metadata.response_code = ResponseCode::ServFail;
                return Reply::Forward {
                    fallback: encode_or_empty(&response),
                };
            }
            Lookup::Outside => {
                // Not ours and nowhere to ask: NXDOMAIN, the one failure
                // every resolver takes as final (musl ignores REFUSED and
                // retries SERVFAIL, then waits out its timeout: a hang).
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            Lookup::NotReady => response.metadata.response_code = ResponseCode::ServFail,
            Lookup::NxDomain => {
                response.metadata.authoritative = true;
                response.metadata.response_code = ResponseCode::NXDomain;
                response.add_authority(self.soa());
            }
            Lookup::Found {
                answers,
                additional,
            } => {
                response.metadata.authoritative = true;
                if answers.is_empty() {
                    response.add_authority(self.soa());
                }
                for data in answers {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        self.ttl,
                        rdata(data),
                    ));
                }
                for (name, data) in additional {
                    if let Ok(name) = fqdn(&name) {
                        response.add_additional(Record::from_rdata(name, self.ttl, rdata(data)));
                    }
                }
            }
        }
        let limit = if !udp {
            usize::from(u16::MAX)
        } else if request.edns.is_some() {
            MAX_EDNS_UDP.min(usize::from(request.max_payload()).max(MAX_PLAIN_UDP))
        } else {
            MAX_PLAIN_UDP
        };
        Reply::Answer(encode_within(&response, limit))
    }

    /// The header and question of the answer to `request`.
    fn start_response(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = self.forwards;
        response.add_queries(request.queries.iter().cloned());
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(MAX_EDNS_UDP as u16);
            response.set_edns(edns);
        }
        response
    }

    /// The zone's SOA, for negative answers (its minimum is the TTL of "no").
    fn soa(&self) -> Record {
        let domain = self.zone.domain();
        let name = |s: String| fqdn(&s).unwrap_or_else(|_| Name::root());
        let soa = SOA::new(
            name(format!("ns.dns.{domain}")),
            name(format!("hostmaster.{domain}")),
            1,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(name(domain.to_string()), self.ttl, RData::SOA(soa))
    }
}

fn query_type(t: RecordType) -> QueryType {
    match t {
        RecordType::A => QueryType::A,
        RecordType::AAAA => QueryType::Aaaa,
        RecordType::SRV => QueryType::Srv,
        RecordType::ANY => QueryType::Any,
        _ => QueryType::Other,
    }
}

fn rdata(data: RecordData) -> RData {
    match data {
        RecordData::A(ip) => RData::A(A(ip)),
        RecordData::Aaaa(ip) => RData::AAAA(AAAA(ip)),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(
            priority,
            weight,
            port,
            fqdn(&target).unwrap_or_else(|_| Name::root()),
        )),
        RecordData::Cname(target) => {
            RData::CNAME(CNAME(fqdn(&target).unwrap_or_else(|_| Name::root())))
        }
    }
}

/// `a.b` -> the absolute name `a.b.`.
fn fqdn(name: &str) -> Result<Name, hickory_proto::ProtoError> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
}

/// The message, or its truncated form (question only, TC set) when it
/// does not fit `limit` bytes.
fn encode_within(message: &Message, limit: usize) -> Vec<u8> {
    let bytes = encode_or_empty(message);
    if bytes.len() <= limit {
        return bytes;
    }
    let mut cut = message.truncate();
    cut.metadata.response_code = message.metadata.response_code;
    encode_or_empty(&cut)
}

/// Encoding only fails for malformed names, which the zone never makes;
/// should it happen, a header-only SERVFAIL is still an answer.
fn encode_or_empty(message: &Message) -> Vec<u8> {
    message.to_vec().unwrap_or_else(|_| {
        Message::error_msg(
            message.metadata.id,
            message.metadata.op_code,
            ResponseCode::ServFail,
        )
        .to_vec()
        .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_proto::op::Query;
    use skiff_api::core::{Endpoints, Service};
    use skiff_client::runtime::{CacheWriter, Event};

    use super::*;

    fn responder(forwards: bool) -> Responder {
        let mut services = CacheWriter::<Service>::new();
        let mut endpoints = CacheWriter::<Endpoints>::new();
        services.apply(&Event::Restarted(Vec::<Arc<Service>>::new()));
        endpoints.apply(&Event::Restarted(Vec::<Arc<Endpoints>>::new()));
        let zone = ClusterZone::new("cluster.local", services.cache(), endpoints.cache());
        Responder::new(zone, 5, forwards)
    }

    fn query(name: &str) -> Message {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        m
    }

    fn answer(reply: Reply) -> Message {
        match reply {
            Reply::Answer(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn odd_messages_get_errors_or_silence() {
        let r = responder(false);
        let mut notify = query("web.default.svc.cluster.local.");
        notify.metadata.op_code = OpCode::Notify;
        let a = answer(r.respond(&notify.to_vec().unwrap(), true));
        assert_eq!(a.metadata.response_code, ResponseCode::NotImp);
        assert_eq!(a.metadata.id, notify.metadata.id);

        let mut two = query("a.cluster.local.");
        two.add_query(Query::query(
            Name::from_ascii("b.cluster.local.").unwrap(),
            RecordType::A,
        ));
        let a = answer(r.respond(&two.to_vec().unwrap(), true));
        assert_eq!(a.metadata.response_code, ResponseCode::FormErr);

        // An answer sent to us is never answered (no reflection loops).
        let reflected = Message::response(7, OpCode::Query);
        assert_eq!(r.respond(&reflected.to_vec().unwrap(), true), Reply::Drop);
        assert_eq!(r.respond(&[1], true), Reply::Drop);
    }

    #[test]
    fn outside_names_are_denied_or_forwarded() {
        let q = query("example.com.").to_vec().unwrap();
        let denied = answer(responder(false).respond(&q, true));
        assert_eq!(denied.metadata.response_code, ResponseCode::NXDomain);
        assert!(!denied.metadata.authoritative);
        let Reply::Forward { fallback } = responder(true).respond(&q, true) else {
            panic!("not forwarded");
        };
        let fallback = Message::from_vec(&fallback).unwrap();
        assert_eq!(fallback.metadata.response_code, ResponseCode::ServFail);
        assert!(fallback.metadata.recursion_available);
    }
}
