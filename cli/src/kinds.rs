//! Kind names as users type them (`deploy`, `pods`, `svc,deploy`, `all`,
//! `deployment/nginx`) and as kubectl prints them (`deployment.apps/nginx`).

use skiff_api::resource::{self, RESOURCES, ResourceType};

use crate::errors::{CliError, CliResult};

/// `deployment.apps`, `service`: the prefix of `-o name` and of
/// multi-kind tables.
pub fn kind_group(rt: &ResourceType) -> String {
    let kind = rt.kind.to_ascii_lowercase();
    if rt.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", rt.group)
    }
}

/// `deployment.apps/nginx-deployment`.
pub fn object_name(rt: &ResourceType, name: &str) -> String {
    format!("{}/{}", kind_group(rt), name)
}

/// The resource type a user means, or kubectl's error for an unknown one.
pub fn resolve(name: &str) -> CliResult<&'static ResourceType> {
    resource::by_user_name(name).ok_or_else(|| {
        CliError::msg(format!(
            "the server doesn't have a resource type \"{name}\""
        ))
    })
}

/// `deploy,svc` or `all` -> the resource types, in the order given (`all`
/// expands to every kind in category `all`, in discovery order).
pub fn resolve_list(list: &str) -> CliResult<Vec<&'static ResourceType>> {
    let mut out: Vec<&'static ResourceType> = Vec::new();
    for part in list.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let add: Vec<&'static ResourceType> = if part.eq_ignore_ascii_case("all") {
            RESOURCES
                .iter()
                .copied()
                .filter(|r| r.categories.contains(&"all"))
                .collect()
        } else {
            vec![resolve(part)?]
        };
        for rt in add {
            if !out.iter().any(|r| std::ptr::eq(*r, rt)) {
                out.push(rt);
            }
        }
    }
    if out.is_empty() {
        return Err(CliError::msg(format!(
            "the server doesn't have a resource type \"{list}\""
        )));
    }
    Ok(out)
}

/// One resource type with the names asked for (empty: every object).
#[derive(Debug, Clone)]
pub struct Selection {
    pub rt: &'static ResourceType,
    pub names: Vec<String>,
}

/// Parses `KIND[,KIND] [NAME...]` or `KIND/NAME [KIND/NAME...]`.
pub fn parse_targets(args: &[String]) -> CliResult<Vec<Selection>> {
    let Some(first) = args.first() else {
        return Ok(Vec::new());
    };
    if first.contains('/') {
        let mut out: Vec<Selection> = Vec::new();
        for arg in args {
            let Some((kind, name)) = arg.split_once('/') else {
                return Err(CliError::msg(format!(
                    "arguments in resource/name form must have a single resource and name: {arg}"
                )));
            };
            if name.is_empty() {
                return Err(CliError::msg(format!(
                    "arguments in resource/name form must have a single resource and name: {arg}"
                )));
            }
            let rt = resolve(kind)?;
            match out.last_mut() {
                Some(last) if std::ptr::eq(last.rt, rt) => last.names.push(name.to_string()),
                _ => out.push(Selection {
                    rt,
                    names: vec![name.to_string()],
                }),
            }
        }
        return Ok(out);
    }
    if args[1..].iter().any(|a| a.contains('/')) {
        return Err(CliError::msg(
            "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiff get resource/<resource_name>' instead of 'skiff get resource resource/<resource_name>'",
        ));
    }
    let names: Vec<String> = args[1..].to_vec();
    Ok(resolve_list(first)?
        .into_iter()
        .map(|rt| Selection {
            rt,
            names: names.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_and_prefixes() {
        let d = resolve("deploy").unwrap();
        assert_eq!(kind_group(d), "deployment.apps");
        assert_eq!(object_name(resolve("svc").unwrap(), "x"), "service/x");
        match resolve("foos") {
            Err(CliError::Message(m)) => {
                assert_eq!(m, "the server doesn't have a resource type \"foos\"")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comma_lists_and_all() {
        let l = resolve_list("deploy,pods,deployments").unwrap();
        assert_eq!(
            l.iter().map(|r| r.plural).collect::<Vec<_>>(),
            vec!["deployments", "pods"]
        );
        let all = resolve_list("all").unwrap();
        assert!(all.iter().any(|r| r.plural == "pods"));
        assert!(all.iter().all(|r| r.categories.contains(&"all")));
    }

    #[test]
    fn target_forms() {
        let t = parse_targets(&s(&["deploy", "a", "b"])).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].names, s(&["a", "b"]));
        let t = parse_targets(&s(&["deploy/a", "deployment/b", "svc/c"])).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].names, s(&["a", "b"]));
        assert_eq!(t[1].rt.plural, "services");
        assert!(parse_targets(&s(&["deploy", "svc/c"])).is_err());
    }
}
