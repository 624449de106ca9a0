//! Bearer-token lookups, batched on PostgreSQL (`kenpo_shared::db::BatchedLookup`): however the
//! lookups of concurrent requests are grouped, each gets the row for its own key as the database
//! holds it after the lookup began; a batch that fails fails each of its lookups, and the
//! lookups after it go through.

use std::time::Duration;

use chrono::NaiveDateTime;
use kenpo_idp::store::grants::{self, GrantRow};
use kenpo_idp::store::{self, AnyConnection, StoreError};
use kenpo_shared::db::BatchedLookup;

use crate::store::{insert_member, insert_public_client, new_realm};
use crate::support::{Backend, TestDb, both_backends};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

const GRANTS: usize = 60;
const MEMBERS: usize = 10;

/// Grant `g<i>`: a client's own grant (no member) when i % 3 == 0, else member `m<i % 10>`'s;
/// revoked when i % 5 == 0.
fn grant(realm_id: &str, i: usize, now: NaiveDateTime) -> GrantRow {
    GrantRow {
        id: format!("g{i}"),
        realm_id: realm_id.to_string(),
        client_id: "rp".into(),
        user_id: (!i.is_multiple_of(3)).then(|| format!("m{}", i % MEMBERS)),
        session_id: None,
        sid: None,
        scope: "openid".into(),
        nonce: None,
        auth_time: None,
        amr: "[]".into(),
        acr: "1".into(),
        created_at: now,
        revoked_at: i.is_multiple_of(5).then_some(now),
    }
}

fn insert_grant(c: &mut AnyConnection, g: &GrantRow) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    diesel::insert_into(store::schema::grants::table).values(g).execute(c)?;
    Ok(())
}

both_backends!(
    /// 350 lookups in flight at once (every grant five times, and ten ids that do not exist):
    /// each answer is its own grant with its own member, or none for a revoked or unknown id.
    concurrent_grant_lookups_each_get_their_own_row,
    |db: &TestDb| {
        let st = store::open_with(&db.url, 2).expect("open");
        st.run_sync(|c| {
            let realm = new_realm(c, "batch")?;
            insert_public_client(c, &realm, "rp", false)?;
            for m in 0..MEMBERS {
                insert_member(c, &realm, &format!("m{m}"), None, None)?;
            }
            let now = store::now();
            (0..GRANTS).try_for_each(|i| insert_grant(c, &grant(&realm, i, now)))
        })
        .expect("grants");
        let lookups = BatchedLookup::new(st.clone(), grants::live_grants_with_users);
        // Ids in an order that mixes batches: i * 3 mod 70 walks all of 0..70 (3 and 70 are
        // coprime), so neighbouring lookups ask for unrelated grants.
        let ids: Vec<usize> = (0..5).flat_map(|_| (0..70).map(|i| i * 3 % 70)).collect();
        let answers = runtime().block_on(async {
            let tasks: Vec<_> = ids
                .iter()
                .map(|i| {
                    let (lookups, id) = (lookups.clone(), format!("g{i}"));
                    tokio::spawn(async move { lookups.get(id).await })
                })
                .collect();
            let mut answers = Vec::new();
            for t in tasks {
                answers.push(tokio::time::timeout(Duration::from_secs(30), t).await.expect("answered").expect("task"));
            }
            answers
        });
        for (i, answer) in ids.iter().zip(answers) {
            let found = answer.unwrap_or_else(|e| panic!("g{i}: {e}"));
            let live = *i < GRANTS && i % 5 != 0;
            match found {
                None => assert!(!live, "g{i} is live but was not found"),
                Some((g, member)) => {
                    assert!(live, "g{i} is revoked or unknown but was found");
                    assert_eq!(g.id, format!("g{i}"));
                    let expected_member = (i % 3 != 0).then(|| format!("m{}", i % MEMBERS));
                    assert_eq!(member.map(|m| m.id), expected_member, "member of g{i}");
                    assert_eq!(g.user_id, expected_member);
                }
            }
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 70, "every grant and every unknown id is asked for");
        if db.backend == Backend::Postgres {
            let sent = lookups.batches_sent();
            assert!(sent > 0 && sent < ids.len() as u64, "{sent} batches for {} lookups", ids.len());
        }
        // A grant revoked now is reported revoked by the next lookup.
        st.run_sync(|c| grants::revoke_grant(c, "g1", store::now())).expect("revoke");
        let after = runtime().block_on(lookups.get("g1".into())).expect("lookup");
        assert!(after.is_none(), "a revoked grant was still found");
    }
);

/// Answers each key with its upper case, after a round trip; a batch holding "poison" fails.
fn upper_or_poison(c: &mut AnyConnection, keys: &[String]) -> Result<Vec<(String, String)>, StoreError> {
    c.execute_raw("SELECT 1")?;
    if keys.iter().any(|k| k == "poison") {
        return Err(StoreError::Unavailable("poisoned batch".into()));
    }
    Ok(keys.iter().map(|k| (k.clone(), k.to_uppercase())).collect())
}

#[test]
fn a_failed_batch_fails_each_of_its_lookups_and_the_next_ones_go_through() {
    // SQLite does not batch; this is about the batches.
    let Some(db) = TestDb::postgres_or_skip() else { return };
    let st = store::open_with(&db.url, 1).expect("open");
    let lookups = BatchedLookup::new(st, upper_or_poison);
    let many = |keys: Vec<&'static str>| {
        let lookups = lookups.clone();
        async move {
            // Spawned before any of them runs, so that (on this one-thread runtime) they wait
            // in the same batch.
            let tasks: Vec<_> = keys
                .into_iter()
                .map(|k| {
                    let lookups = lookups.clone();
                    tokio::spawn(async move { lookups.get(k.to_string()).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                let answer = tokio::time::timeout(Duration::from_secs(30), t).await;
                out.push(answer.expect("a lookup was never answered").expect("task"));
            }
            out
        }
    };
    runtime().block_on(async {
        let failed = many(vec!["a", "b", "poison", "c", "a"]).await;
        for answer in failed {
            let e = answer.expect_err("a lookup in the failed batch succeeded");
            assert!(e.to_string().contains("poisoned batch"), "{e}");
        }
        for round in 0..3 {
            let ok = many(vec!["a", "b", "c", "a"]).await;
            let got: Vec<Option<String>> = ok.into_iter().map(|a| a.expect("lookup after the failure")).collect();
            assert_eq!(got, ["A", "B", "C", "A"].map(|s| Some(s.to_string())), "round {round}");
        }
    });
}
