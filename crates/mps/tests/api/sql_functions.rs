//! The SQL function files: applied once per text, again when a text changes, one body per
//! function, and every business error they raise known to the API.

use std::collections::BTreeMap;
use std::path::Path;

use crate::helpers::TestDb;

/// The text of every `.sql` file in `dir` (relative to the server crate), by file name.
fn sql_texts(dir: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("the file is readable"))
        })
        .collect()
}

fn every_sql_text() -> Vec<(String, String)> {
    let migrations = sql_texts("migrations").into_iter().map(|(n, t)| (format!("migrations/{n}"), t));
    let functions = sql_texts("sql/functions").into_iter().map(|(n, t)| (format!("sql/functions/{n}"), t));
    migrations.chain(functions).collect()
}

#[test]
fn every_business_error_code_raised_in_sql_is_a_known_api_error_code() {
    let mut raised = 0;
    let mut unknown = Vec::new();
    for (file, text) in every_sql_text() {
        // Raised, or recorded as an idempotent outcome without raising (issue 16).
        for marker in ["raise_business_error('", "error_outcome('"] {
            for rest in text.split(marker).skip(1) {
                let code = rest.split('\'').next().unwrap_or_default();
                raised += 1;
                if mps_api::error::ErrorCode::parse(code).is_none() {
                    unknown.push(format!("{file}: {code}"));
                }
            }
        }
    }
    assert!(raised > 50, "the scan finds the raised codes (found {raised})");
    assert!(unknown.is_empty(), "codes the API does not know (they would answer 500): {unknown:?}");
}

#[test]
fn each_sql_function_has_exactly_one_body_across_migrations_and_function_files() {
    let mut bodies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in every_sql_text() {
        for rest in text.split("CREATE ").skip(1) {
            let rest = rest.strip_prefix("OR REPLACE ").unwrap_or(rest);
            let Some(rest) = rest.strip_prefix("FUNCTION ").or_else(|| rest.strip_prefix("VIEW ")) else { continue };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            bodies.entry(name).or_default().push(file.clone());
        }
    }
    assert!(bodies.len() > 60, "the scan finds the functions (found {})", bodies.len());
    let repeated: Vec<_> = bodies.iter().filter(|(_, files)| files.len() > 1).collect();
    assert!(repeated.is_empty(), "functions defined more than once: {repeated:?}");
}

#[tokio::test]
async fn a_function_file_runs_again_only_when_its_text_differs_from_the_recorded_one() {
    let (db, pool) = TestDb::migrated().await;
    let files = mps::db::schema::function_files();
    let recorded: Vec<(String, String)> =
        sqlx::query_as("SELECT file, sha256 FROM sql_files ORDER BY file").fetch_all(&pool).await.unwrap();
    let expected: Vec<(String, String)> = files.iter().map(|f| (f.name.clone(), f.sha256())).collect();
    assert_eq!(recorded, expected, "every file recorded with the hash of its text");

    // A function dropped behind the server's back comes back only when its file is re-applied.
    sqlx::query("DROP FUNCTION level_table_json()").execute(&pool).await.unwrap();
    mps::db::migrate(&pool).await.expect("an unchanged file is skipped");
    let exists =
        || sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'level_table_json')");
    assert!(!exists().fetch_one(&pool).await.unwrap(), "an unchanged file does not run again");
    sqlx::query("UPDATE sql_files SET sha256 = repeat('0', 64) WHERE file = 'levels.sql'")
        .execute(&pool)
        .await
        .unwrap();
    mps::db::migrate(&pool).await.expect("a changed file is applied");
    assert!(exists().fetch_one(&pool).await.unwrap(), "the file whose text changed ran again");
    drop(pool);
    drop(db);
}

/// Issue 14 §3: one name per idempotent money operation. The SQL function has the operation's
/// name, stores its idempotency records under that name (every `idempotency_*` call in its body
/// names it as the scope), and the Rust wrapper calls it by that name; the fingerprint and the
/// metric label take `Operation::name` by construction.
#[tokio::test]
async fn each_money_operation_has_one_name_for_function_scope_fingerprint_and_metric() {
    let (db, pool) = TestDb::migrated().await;
    let wrappers = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db/money_ops.rs"))
        .expect("money_ops.rs is readable");
    for op in mps::db::money_ops::OPERATIONS {
        let bodies: Vec<String> = sqlx::query_scalar(
            // `pg_catalog.charge("char", "char")` is PostgreSQL's own (`>=` on "char"): another arity.
            "SELECT prosrc FROM pg_proc WHERE proname = $1 AND pronamespace = 'public'::regnamespace",
        )
        .bind(op.name)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(bodies.len(), 1, "one SQL function named {}", op.name);
        // The scope is the second argument of every idempotency helper's call: `(actor, 'scope', …`.
        let markers = [
            "idempotency_lock(",
            "idempotency_begin(",
            "idempotency_finish(",
            "idempotency_store(",
            "idempotency_store_compact(",
        ];
        let scopes: Vec<&str> = markers
            .iter()
            .flat_map(|marker| bodies[0].split(marker).skip(1))
            .map(|args| args.split_once(',').map_or("", |(_, rest)| rest.trim_start()))
            .map(|rest| rest.strip_prefix('\'').and_then(|r| r.split('\'').next()).unwrap_or(rest))
            .collect();
        assert!(!scopes.is_empty(), "{} stores an idempotency record", op.name);
        assert!(scopes.iter().all(|scope| *scope == op.name), "{} stores its records under {scopes:?}", op.name);
        assert!(wrappers.contains(&format!("\"SELECT {}($1", op.name)), "the wrapper of {} calls it by name", op.name);
    }
    drop(pool);
    drop(db);
}
