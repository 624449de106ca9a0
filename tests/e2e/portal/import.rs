//! `kenpo-portal results import` on both backends: all or nothing, line numbers for bad rows,
//! idempotent re-import, and the portal schema matching both databases.

use diesel::prelude::*;
use kenpo_e2e::{TestDb, dual_backend_test};
use kenpo_portal::admin::{ImportFailure, import_results};
use kenpo_portal::checkups::import::{ImportError, MemberKey};
use kenpo_portal::checkups::reference::ReferenceTable;
use kenpo_portal::store::{self, Store, results, schema};

const HEADER: &str = "insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit\n";

fn open(db: &TestDb) -> (Store, ReferenceTable) {
    (store::open(&db.url, 0).expect("portal store"), ReferenceTable::builtin().expect("reference"))
}

fn member() -> MemberKey {
    MemberKey::from_claims(Some("06130001"), Some("77"), Some("8"), Some("1990-04-01")).expect("key")
}

fn good_file() -> String {
    format!(
        "{HEADER}06130001,77,8,1990-04-01,2024-06-01,sbp,120,mmHg\n06130001,77,8,1990-04-01,2024-06-01,hba1c,5.4,%\n06130001,77,8,1990-04-01,2025-06-01,sbp,131,mmHg\n06130001,77,8,1990-04-01,2025-06-01,urine_protein,-,\n"
    )
}

fn count(st: &Store) -> i64 {
    st.run_sync(results::count).expect("count")
}

dual_backend_test!(portal_import_good_file_then_reimport_changes_nothing, |db| async move {
    let (st, table) = open(&db);
    let s = import_results(&st, &table, good_file().as_bytes()).expect("import");
    assert_eq!((s.inserted, s.updated, s.unchanged), (4, 0, 0));
    let rows = st.run_sync(|c| results::for_member(c, &member())).expect("rows");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].checkup_date, "2024-06-01");

    let again = import_results(&st, &table, good_file().as_bytes()).expect("re-import");
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 4));
    assert_eq!(st.run_sync(|c| results::for_member(c, &member())).expect("rows"), rows);

    // A corrected value replaces the old one; nothing is duplicated.
    let fix = format!("{HEADER}06130001,77,8,1990-04-01,2025-06-01,sbp,129,mmHg\n");
    let s = import_results(&st, &table, fix.as_bytes()).expect("correction");
    assert_eq!((s.inserted, s.updated), (0, 1));
    assert_eq!(count(&st), 4);
});

dual_backend_test!(portal_import_with_a_bad_row_imports_nothing_and_names_the_line, |db| async move {
    let (st, table) = open(&db);
    let file = format!("{}06130001,77,8,1990-04-01,2025-06-01,dbp,eighty,mmHg\n", good_file());
    match import_results(&st, &table, file.as_bytes()) {
        Err(ImportFailure::Invalid(ImportError::Rows(errs))) => {
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].line, 6);
            let shown = ImportError::Rows(errs).to_string();
            assert!(shown.contains("line 6:") && shown.contains("nothing imported"), "{shown}");
        }
        other => panic!("expected a refused file, got {other:?}"),
    }
    assert_eq!(count(&st), 0);
});

dual_backend_test!(portal_import_unknown_item_codes_are_refused, |db| async move {
    let (st, table) = open(&db);
    let file = format!("{}06130001,77,8,1990-04-01,2025-06-01,cholesterol_total_x,200,mg/dL\n", good_file());
    match import_results(&st, &table, file.as_bytes()) {
        Err(ImportFailure::Invalid(ImportError::Rows(errs))) => {
            assert_eq!(errs[0].line, 6);
            assert!(errs[0].message.contains("unknown item code"), "{errs:?}");
        }
        other => panic!("expected a refused file, got {other:?}"),
    }
    assert_eq!(count(&st), 0);
});

dual_backend_test!(portal_import_full_width_digits_match_ascii_claims, |db| async move {
    let (st, table) = open(&db);
    let file = format!(
        "{HEADER}０６１３０００１,７７,８,１９９０－０４－０１,２０２５－０６－０１,ＬＤＬ,１４６,ｍｇ／ｄＬ\n"
    );
    let s = import_results(&st, &table, file.as_bytes()).expect("import");
    assert_eq!(s.inserted, 1);
    let rows = st.run_sync(|c| results::for_member(c, &member())).expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].item_code.as_str(), rows[0].value.as_str(), rows[0].unit.as_str()), ("ldl", "146", "mg/dL"));
});

dual_backend_test!(portal_import_empty_file_is_refused, |db| async move {
    let (st, table) = open(&db);
    for empty in ["", HEADER] {
        match import_results(&st, &table, empty.as_bytes()) {
            Err(ImportFailure::Invalid(ImportError::Empty)) => {}
            other => panic!("expected Empty, got {other:?}"),
        }
    }
    assert_eq!(count(&st), 0);
});

dual_backend_test!(portal_schema_matches_both_backends, |db| async move {
    let (st, _) = open(&db);
    st.run_sync(|c| {
        schema::portal_sessions::table
            .select(kenpo_portal::store::sessions::SessionRow::as_select())
            .limit(0)
            .load(c)?;
        schema::login_attempts::table.select(kenpo_portal::store::logins::LoginRow::as_select()).limit(0).load(c)?;
        schema::checkup_results::table.select(schema::checkup_results::all_columns).limit(0).load::<(
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            chrono::NaiveDateTime,
            chrono::NaiveDateTime,
        )>(c)?;
        schema::notice_acceptances::table.select(schema::notice_acceptances::all_columns).limit(0).load::<(
            String,
            String,
            chrono::NaiveDateTime,
        )>(c)?;
        Ok(())
    })
    .expect("every table loads");
    let (pg, lite) =
        (std::fs::read_dir("../migrations/portal/postgres"), std::fs::read_dir("../migrations/portal/sqlite"));
    let names = |d: std::fs::ReadDir| {
        let mut v: Vec<String> =
            d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names(pg.expect("pg dir")), names(lite.expect("sqlite dir")), "same migration names in both trees");
});
