use super::*;
use skiff_api::apps::{ReplicaSetStatus, RollingUpdateDeployment};
use skiff_api::meta::Time;

fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    let mut d = Deployment::default();
    d.spec.replicas = Some(replicas);
    d.spec.strategy.type_ = Some("RollingUpdate".into());
    d.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
        max_surge: Some(surge),
        max_unavailable: Some(unavailable),
    });
    d
}

fn rs(name: &str, created: i64, replicas: i32, status_replicas: i32, available: i32) -> ReplicaSet {
    let mut rs = ReplicaSet::default();
    rs.metadata.name = Some(name.into());
    rs.metadata.creation_timestamp =
        chrono::DateTime::from_timestamp(1_700_000_000 + created, 0).map(Time);
    rs.spec.replicas = Some(replicas);
    rs.status = Some(ReplicaSetStatus {
        replicas: status_replicas,
        available_replicas: Some(available),
        ..Default::default()
    });
    rs
}

#[test]
fn surge_rounds_up_and_unavailability_down() {
    assert_eq!(
        fenceposts(&deployment(10, "25%".into(), "25%".into())),
        (3, 2)
    );
    assert_eq!(fenceposts(&deployment(10, 3.into(), 2.into())), (3, 2));
    assert_eq!(
        fenceposts(&deployment(1, "25%".into(), "25%".into())),
        (1, 0)
    );
    // Both rounding to zero: one may be unavailable, or nothing could move.
    assert_eq!(
        fenceposts(&deployment(1, "0%".into(), "25%".into())),
        (0, 1)
    );
    let mut recreate = deployment(10, 3.into(), 2.into());
    recreate.spec.strategy.type_ = Some("Recreate".into());
    assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
    assert_eq!(max_unavailable(&deployment(2, 5.into(), 5.into())), 2);
    assert_eq!(max_unavailable(&deployment(0, 5.into(), 5.into())), 0);
}

#[test]
fn the_new_replicaset_grows_within_the_surge() {
    let d = deployment(10, 3.into(), 2.into());
    let old = rs("old", 0, 10, 10, 10);
    let new = rs("new", 1, 0, 0, 0);
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
    // Old pods still being deleted count against the surge.
    let shrinking = rs("old", 0, 5, 8, 5);
    let new = rs("new", 1, 3, 3, 3);
    assert_eq!(new_rs_new_replicas(&d, &[&shrinking, &new], &new), 5);
    let shrunk = rs("old", 0, 5, 5, 5);
    assert_eq!(new_rs_new_replicas(&d, &[&shrunk, &new], &new), 8);
    // Never past the Deployment's own count.
    let gone = rs("old", 0, 0, 0, 0);
    assert_eq!(new_rs_new_replicas(&d, &[&gone, &new], &new), 10);
    let mut recreate = d.clone();
    recreate.spec.strategy.type_ = Some("Recreate".into());
    assert_eq!(new_rs_new_replicas(&recreate, &[&old, &new], &new), 10);
}

#[test]
fn availability_counts_only_pods_that_stay() {
    // Scaled down to 8, status not yet caught up: at most 8 stay available.
    let r = rs("old", 0, 8, 10, 10);
    assert_eq!((kept_available(&r), pod_count(&r)), (8, 10));
}

#[test]
fn revisions_and_annotations() {
    let mut d = deployment(4, "25%".into(), "25%".into());
    d.metadata.annotations.insert("team".into(), "web".into());
    d.metadata.annotations.insert(REVISION.into(), "7".into());
    d.metadata
        .annotations
        .insert(AUTO_ROLLBACK_FROM.into(), "6".into());
    let mut fresh = rs("new", 0, 0, 0, 0);
    assert!(set_new_rs_annotations(&d, &mut fresh, 3, false));
    let a = &fresh.metadata.annotations;
    assert_eq!(a["team"], "web");
    assert_eq!(a[REVISION], "3");
    assert_eq!(
        (a[DESIRED_REPLICAS].as_str(), a[MAX_REPLICAS].as_str()),
        ("4", "5")
    );
    assert!(!a.contains_key(AUTO_ROLLBACK_FROM) && !a.contains_key(REVISION_HISTORY));
    assert_eq!(revision(&fresh), 3);
    // Nothing new: nothing changes.
    assert!(!set_new_rs_annotations(&d, &mut fresh, 3, true));
    // Brought back by a rollback: a new revision, the old ones remembered.
    assert!(set_new_rs_annotations(&d, &mut fresh, 5, true));
    assert!(set_new_rs_annotations(&d, &mut fresh, 8, true));
    assert_eq!(fresh.metadata.annotations[REVISION], "8");
    assert_eq!(fresh.metadata.annotations[REVISION_HISTORY], "3,5");
    // Never lowered.
    assert!(!set_new_rs_annotations(&d, &mut fresh, 2, true));
    assert_eq!(max_revision([&fresh, &rs("x", 0, 0, 0, 0)]), 8);
}

#[test]
fn templates_match_ignoring_the_hash_label() {
    let mut a = PodTemplateSpec::default();
    a.metadata.labels.insert("app".into(), "web".into());
    let mut b = a.clone();
    b.metadata
        .labels
        .insert(POD_TEMPLATE_HASH.into(), "abc".into());
    assert!(equal_ignore_hash(&a, &b));
    b.metadata.labels.insert("tier".into(), "fe".into());
    assert!(!equal_ignore_hash(&a, &b));
    let mut d = Deployment::default();
    d.spec.template = a.clone();
    let mut older = rs("older", 0, 1, 1, 1);
    older.spec.template = a.clone();
    let mut newer = rs("newer", 5, 1, 1, 1);
    newer.spec.template = a;
    let other = rs("other", 0, 1, 1, 1);
    assert_eq!(find_new(&d, &[other.clone(), newer, older]), Some(2));
    assert_eq!(find_new(&d, &[other]), None);
}

#[test]
fn saturation_and_the_active_replicaset() {
    let d = deployment(3, 1.into(), 0.into());
    let mut new = rs("new", 2, 3, 3, 3);
    assert!(!is_saturated(&d, Some(&new)));
    set_replicas_annotations(&mut new, 3, 4);
    assert!(is_saturated(&d, Some(&new)));
    assert!(!is_saturated(&d, None));
    let old = [rs("a", 0, 0, 0, 0), rs("b", 1, 0, 0, 0)];
    assert_eq!(
        active_or_latest(Some(&new), &old).and_then(|r| r.metadata.name.as_deref()),
        Some("new")
    );
    assert_eq!(
        active_or_latest(None, &old).and_then(|r| r.metadata.name.as_deref()),
        Some("b")
    );
    let busy = [rs("a", 0, 2, 2, 2)];
    assert_eq!(active_or_latest(Some(&new), &busy), None);
    let idle_new = rs("new", 2, 0, 0, 0);
    assert_eq!(
        active_or_latest(Some(&idle_new), &busy).and_then(|r| r.metadata.name.as_deref()),
        Some("a")
    );
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // 10 -> 15 replicas (surge 25%: 4) while two ReplicaSets of 8 and 5 exist,
    // last sized for 10 + 3 = 13.
    let d = deployment(15, "25%".into(), "25%".into());
    let mut new = rs("new", 5, 8, 8, 8);
    let mut old = rs("old", 0, 5, 5, 5);
    set_replicas_annotations(&mut new, 10, 13);
    set_replicas_annotations(&mut old, 10, 13);
    let mut active = vec![old.clone(), new.clone()];
    let (sizes, op) = proportional_sizes(&d, &mut active);
    assert_eq!(op, "up");
    assert_eq!(active[0].metadata.name.as_deref(), Some("new"));
    assert_eq!(sizes, vec![12, 7]);

    // Down to 5 (surge 2, so 7 in all): shares shrink, leftovers to the largest.
    let d = deployment(5, "25%".into(), "25%".into());
    let mut active = vec![old, new];
    let (sizes, op) = proportional_sizes(&d, &mut active);
    assert_eq!(op, "down");
    assert_eq!(sizes.iter().sum::<i32>(), 7);
    assert_eq!(sizes, vec![4, 3]);

    // To zero: everything goes.
    let d = deployment(0, "25%".into(), "25%".into());
    let mut active = vec![rs("a", 0, 4, 4, 4), rs("b", 1, 2, 2, 2)];
    assert_eq!(proportional_sizes(&d, &mut active).0, vec![0, 0]);
}

#[test]
fn completion_progress_and_deadline() {
    use super::super::conditions::{self, PROGRESSING, RS_UPDATED};
    let mut d = deployment(3, 1.into(), 0.into());
    d.metadata.generation = Some(2);
    d.spec.progress_deadline_seconds = Some(60);
    let status = |replicas: i32, updated: i32, available: i32, generation: i64| DeploymentStatus {
        observed_generation: Some(generation),
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        available_replicas: Some(available),
        ..Default::default()
    };
    assert!(deployment_complete(&d, &status(3, 3, 3, 2)));
    assert!(!deployment_complete(&d, &status(3, 3, 3, 1)));
    assert!(!deployment_complete(&d, &status(4, 3, 3, 2)));
    d.status = Some(status(4, 1, 3, 2));
    assert!(deployment_progressing(&d, &status(4, 2, 3, 2)));
    assert!(deployment_progressing(&d, &status(3, 1, 3, 2)));
    assert!(!deployment_progressing(&d, &status(4, 1, 3, 2)));
    let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let mut s = status(4, 1, 3, 2);
    assert!(!deployment_timed_out(&d, &s, t0));
    conditions::set(
        &mut s,
        conditions::new(PROGRESSING, "True", RS_UPDATED, "x", t0),
    );
    assert!(!deployment_timed_out(
        &d,
        &s,
        t0 + chrono::Duration::seconds(60)
    ));
    assert!(deployment_timed_out(
        &d,
        &s,
        t0 + chrono::Duration::seconds(61)
    ));
    d.spec.progress_deadline_seconds = Some(i32::MAX);
    assert!(!deployment_timed_out(
        &d,
        &s,
        t0 + chrono::Duration::days(1000)
    ));
}
